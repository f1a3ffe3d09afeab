// A YAML emitter for the subset manifests use: maps, lists, strings, numbers, booleans, null.
// Keys keep the order they were built in (apiVersion, kind, metadata, spec: what kubectl prints).
// Strings that could read as anything but a plain string are double-quoted (JSON's escapes are
// valid YAML); multi-line strings are literal blocks.

type Value = string | number | boolean | null | undefined | Value[] | { [key: string]: Value };

const PLAIN = /^[A-Za-z0-9_./][A-Za-z0-9_./ :@=+-]*$/;
// YAML 1.1 and 1.2 read these as booleans, nulls or numbers.
const RESERVED =
  /^(y|n|yes|no|on|off|true|false|null|~|[-+]?(\.inf|\.nan|[0-9][0-9_]*(\.[0-9_]*)?([eE][-+]?[0-9]+)?|0x[0-9a-fA-F_]+|0o?[0-7_]+|[0-9][0-9_]*(:[0-5]?[0-9])+))$/i;

function scalar(s: string): string {
  const plain = PLAIN.test(s) && !RESERVED.test(s) && !s.endsWith(' ') && !/: | #|:$/.test(s);
  return plain ? s : JSON.stringify(s);
}

const isMap = (v: Value): v is { [key: string]: Value } =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function leaf(v: Value, indent: string): string {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new Error(`yaml: ${v} is not a finite number`);
    return String(v);
  }
  if (typeof v === 'boolean') return String(v);
  // A literal block, when its text survives one: no leading blank, no trailing blanks or lines.
  if (typeof v === 'string' && v.includes('\n') && !/^\s|[^\S\n]\n|\s$/.test(v.replace(/\n$/, ''))) {
    const body = v.replace(/\n$/, '');
    const chomp = v.endsWith('\n') ? '' : '-';
    return `|${chomp}\n${body
      .split('\n')
      .map((l) => (l === '' ? '' : `${indent}  ${l}`))
      .join('\n')}`;
  }
  if (typeof v === 'string') return scalar(v);
  if (Array.isArray(v)) return '[]';
  return '{}';
}

const nested = (v: Value) => (Array.isArray(v) && v.length > 0) || (isMap(v) && Object.keys(v).length > 0);

function lines(v: Value, indent: string): string[] {
  const out: string[] = [];
  if (Array.isArray(v)) {
    for (const item of v) {
      if (!nested(item)) out.push(`${indent}- ${leaf(item, `${indent}  `)}`);
      else {
        // The first line of a nested item shares the dash: "- key: value".
        const inner = lines(item, `${indent}  `);
        out.push(`${indent}- ${(inner[0] ?? '').slice(indent.length + 2)}`, ...inner.slice(1));
      }
    }
  } else if (isMap(v)) {
    for (const [key, item] of Object.entries(v)) {
      if (item === undefined) continue;
      const k = scalar(key);
      if (!nested(item)) out.push(`${indent}${k}: ${leaf(item, indent)}`);
      else out.push(`${indent}${k}:`, ...lines(item, Array.isArray(item) ? indent : `${indent}  `));
    }
  } else out.push(`${indent}${leaf(v, indent)}`);
  return out;
}

/** One YAML document; `comment` lines go above it. */
export function toYaml(value: unknown, comment: string[] = []): string {
  return `${[...comment.map((c) => (c === '' ? '#' : `# ${c}`)), ...lines(value as Value, '')].join('\n')}\n`;
}

/** Several documents, separated by "---". */
export const toYamlStream = (docs: { value: unknown; comment?: string[] }[]) =>
  docs.map((d) => `---\n${toYaml(d.value, d.comment)}`).join('');
