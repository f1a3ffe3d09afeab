// The TOA formats this toolkit knows, in the bit order shared with the C enum toa_format
// (test/vectors/README.md): a format's index in FORMATS is its bit in a format mask.

/**
 * How the payload after kind+len is laid out:
 * - `port-addr`: port(2) then the client address (4 or 16 bytes, by `len`);
 * - `version-addr`: version(1) = 1 then the client address, no port (kind 28);
 * - `port-addr-vip`: port(2) ipv4(4) pad(2) vport(2) vip(4): len 16 is only reached with the two
 *   pad bytes ByteDance's struct alignment puts before vport; their value is not checked;
 * - `hostid`: ExID 0x0348(2) then a 4- or 16-byte host id, no port (RFC 7974).
 */
export type Layout = 'port-addr' | 'version-addr' | 'port-addr-vip' | 'hostid';

export const FORMATS = [
  { name: '254/8', kind: 254, len: 8, layout: 'port-addr' },
  { name: '254/20', kind: 254, len: 20, layout: 'port-addr' },
  { name: '253/20', kind: 253, len: 20, layout: 'port-addr' },
  { name: '200/8', kind: 200, len: 8, layout: 'port-addr' },
  { name: '252/8', kind: 252, len: 8, layout: 'port-addr' },
  { name: '253/8', kind: 253, len: 8, layout: 'port-addr' },
  { name: '28/7', kind: 28, len: 7, layout: 'version-addr' },
  { name: '28/19', kind: 28, len: 19, layout: 'version-addr' },
  { name: '254/16', kind: 254, len: 16, layout: 'port-addr-vip' },
  // len null: a host id option is recognised by its ExID, and its length picks the family.
  { name: '253/hostid', kind: 253, len: null, layout: 'hostid' },
  { name: '254/hostid', kind: 254, len: null, layout: 'hostid' },
] as const satisfies readonly { name: string; kind: number; len: number | null; layout: Layout }[];

export type Format = (typeof FORMATS)[number];
export type FormatName = Format['name'];

export const FORMAT_NAMES: readonly FormatName[] = FORMATS.map((f) => f.name);

/** What the kernel and the tools accept unless told otherwise. */
export const DEFAULT_FORMATS: readonly FormatName[] = ['254/8', '254/20'];

/** RFC 6994 experiment id that RFC 7974 HOST_ID options start with. */
export const HOSTID_EXID = 0x0348;

/** Kind 28 formats carry this version byte; anything else is rejected, never guessed. */
export const KIND28_VERSION = 1;

const ALL_MASK = (1 << FORMATS.length) - 1;

export function isFormatName(name: string): name is FormatName {
  return (FORMAT_NAMES as readonly string[]).includes(name);
}

export function formatSpec(name: FormatName): Format {
  const spec = FORMATS.find((f) => f.name === name);
  if (!spec) throw new Error(unknownFormat(name));
  return spec;
}

function unknownFormat(name: string): string {
  return `unknown TOA format ${JSON.stringify(name)}; valid formats: ${FORMAT_NAMES.join(', ')}`;
}

/**
 * Parses a comma list such as "254/8,254/20" (spaces allowed, repeats ignored) into format
 * names in bit order. An empty list is an empty set: nothing is decoded.
 */
export function parseFormats(list: string): FormatName[] {
  const names = list
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const mask = formatsToMask(
    names.map((name) => {
      if (!isFormatName(name)) throw new Error(unknownFormat(name));
      return name;
    }),
  );
  return maskToFormats(mask);
}

export function formatsToMask(formats: Iterable<string>): number {
  let mask = 0;
  for (const name of formats) {
    const bit = (FORMAT_NAMES as readonly string[]).indexOf(name);
    if (bit < 0) throw new Error(unknownFormat(name));
    mask |= 1 << bit;
  }
  return mask;
}

export function maskToFormats(mask: number): FormatName[] {
  checkMask(mask);
  return FORMAT_NAMES.filter((_, bit) => (mask & (1 << bit)) !== 0);
}

export function checkMask(mask: number): void {
  if (!Number.isInteger(mask) || mask < 0 || mask > ALL_MASK) {
    throw new Error(
      `format mask ${mask} is out of range: use an integer 0..${ALL_MASK} (bits in FORMATS order)`,
    );
  }
}

/** Accepts either form the API takes (names or a mask) and returns the mask. */
export function toMask(formats: Iterable<string> | number = DEFAULT_FORMATS): number {
  if (typeof formats === 'number') {
    checkMask(formats);
    return formats;
  }
  return formatsToMask(formats);
}
