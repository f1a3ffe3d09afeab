// Offline validation against the Kubernetes API schema. kubernetes-models' validate() checks
// types, enums and required fields but lets unknown fields through (a typo such as `tolerration`
// would be dropped by the API server, silently). So the same validator also tells us which
// fields it knows: it runs over a tracing view of the object, and every field it never read is
// one the schema does not have. Maps (labels, data) are iterated by the validator, so their
// keys count as read.

interface Validating {
  validate(): void;
  toJSON(): unknown;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** A view of `value` that records the JSON pointer of every property read. */
function traced(value: Json, path: string, read: Set<string>): Json {
  if (typeof value !== 'object' || value === null) return value;
  return new Proxy(value, {
    get(target, key, receiver) {
      const child = Reflect.get(target, key, receiver) as Json;
      if (typeof key !== 'string' || !Object.hasOwn(target, key)) return child;
      const p = `${path}/${key}`;
      read.add(p);
      return traced(child, p, read);
    },
  }) as Json;
}

function unread(value: Json, path: string, read: Set<string>, out: string[]): string[] {
  if (typeof value !== 'object' || value === null) return out;
  for (const [key, child] of Object.entries(value)) {
    const p = `${path}/${key}`;
    if (!read.has(p)) out.push(p);
    else unread(child, p, read, out);
  }
  return out;
}

function describe(json: Json): string {
  const o = (json ?? {}) as { kind?: string; metadata?: { name?: string } };
  return `${o.kind ?? 'object'} ${o.metadata?.name ?? '?'}`;
}

/**
 * Throws, naming the object and the field, when `model` breaks its API schema or carries a
 * field the schema does not know.
 */
export function validateStrict(model: Validating): void {
  const json = JSON.parse(JSON.stringify(model.toJSON())) as Json;
  const read = new Set<string>();
  const validate = Object.getPrototypeOf(model).validate as (this: unknown) => void;
  try {
    validate.call(traced(json, '', read));
  } catch (e) {
    throw new Error(`${describe(json)}: ${(e as Error).message.split('\n').join('; ')}`);
  }
  const unknown = unread(json, '', read, []);
  if (unknown.length) throw new Error(`${describe(json)}: unknown field ${unknown.join(', ')}`);
}
