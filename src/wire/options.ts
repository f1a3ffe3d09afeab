// The generic TCP option block: the bytes after the fixed 20-byte header, doff * 4 - 20 long.

/** doff is 4 bits, so at most 60 - 20 bytes of options. */
export const MAX_OPTIONS_LEN = 40;

export const KIND = {
  EOL: 0,
  NOP: 1,
  MSS: 2,
  WSCALE: 3,
  SACK_PERMITTED: 4,
  SACK: 5,
  TIMESTAMPS: 8,
  MD5SIG: 19,
  USER_TIMEOUT: 28,
  AO: 29,
  MPTCP: 30,
  FASTOPEN: 34,
  EXP1: 253,
  EXP2: 254,
} as const;

const NAMES = new Map<number, string>(Object.entries(KIND).map(([name, kind]) => [kind, name.toLowerCase()]));

/** A short name for tools ("mss", "sack_permitted", "kind-200"). */
export function optionName(kind: number): string {
  return NAMES.get(kind) ?? `kind-${kind}`;
}

export type WalkError = 'opt-trunc' | 'opt-len';

/** One option as found in a block; `len` is the bytes it takes (1 for EOL and NOP). */
export type OptionAt = { kind: number; offset: number; len: number };

/** optionLength's answers for a malformed option (a length is always >= 1). */
export const OPT_TRUNC = -1;
export const OPT_LEN = -2;

/**
 * The bytes the option at `offset` of buf[.., end) takes: 1 for EOL and NOP, its length byte
 * otherwise, or OPT_TRUNC / OPT_LEN. Every walker goes through here so the hazards are handled
 * once: a kind with no length byte, a length that runs past the block, and lengths 0 and 1,
 * which would never move the walk forward or would swallow the length byte itself.
 */
export function optionLength(buf: Uint8Array, offset: number, end: number): number {
  const kind = offset < end ? (buf[offset] as number) : KIND.EOL;
  if (kind === KIND.EOL || kind === KIND.NOP) return 1;
  if (offset + 1 >= end) return OPT_TRUNC;
  const len = buf[offset + 1] as number;
  if (len < 2) return OPT_LEN;
  if (offset + len > end) return OPT_TRUNC;
  return len;
}

/** Reads the option starting at `offset` (optionLength, as an object for tools). */
export function readOption(
  block: Uint8Array,
  offset: number,
): OptionAt | { error: WalkError; offset: number } {
  const len = optionLength(block, offset, block.length);
  if (len === OPT_TRUNC) return { error: 'opt-trunc', offset };
  if (len === OPT_LEN) return { error: 'opt-len', offset };
  return { kind: block[offset] ?? KIND.EOL, offset, len };
}

export type TcpOption = {
  kind: number;
  offset: number;
  /** The bytes after kind and length (empty for EOL and NOP). */
  data: Uint8Array;
  /** Set on the last entry when the walk could not go on; `data` is then whatever was left. */
  error?: WalkError;
};

/**
 * Lists the options of a block for tools; never throws. The listing stops after EOL (what
 * follows is not options) or at the first malformed option, which is listed with its error.
 */
export function decodeOptions(block: Uint8Array): TcpOption[] {
  const list: TcpOption[] = [];
  for (let offset = 0; offset < block.length; ) {
    const o = readOption(block, offset);
    if ('error' in o) {
      const kind = block[offset] ?? KIND.EOL;
      list.push({ kind, offset, data: block.subarray(Math.min(offset + 2, block.length)), error: o.error });
      break;
    }
    list.push({ kind: o.kind, offset, data: block.subarray(offset + Math.min(o.len, 2), offset + o.len) });
    if (o.kind === KIND.EOL) break;
    offset += o.len;
  }
  return list;
}

export type OptionInput = { kind: number; data?: Uint8Array };

/**
 * Builds an option block: each entry is either {kind, data} or the bytes of one already
 * encoded option (such as encodeToa's). The block is padded with NOPs to a multiple of 4,
 * as doff counts 32-bit words, and must fit in 40 bytes.
 */
export function encodeOptions(list: readonly (OptionInput | Uint8Array)[]): Uint8Array {
  const pieces = list.map((item, i) =>
    item instanceof Uint8Array ? checkEncoded(item, i) : encodeOne(item, i),
  );
  const used = pieces.reduce((n, p) => n + p.length, 0);
  const size = Math.ceil(used / 4) * 4;
  if (size > MAX_OPTIONS_LEN) {
    throw new Error(
      `options take ${used} bytes (${size} padded) but a TCP header holds at most ${MAX_OPTIONS_LEN}: drop some`,
    );
  }
  const block = new Uint8Array(size).fill(KIND.NOP);
  let at = 0;
  for (const p of pieces) {
    block.set(p, at);
    at += p.length;
  }
  return block;
}

function encodeOne({ kind, data = new Uint8Array(0) }: OptionInput, i: number): Uint8Array {
  if (!Number.isInteger(kind) || kind < 0 || kind > 255) {
    throw new Error(`option ${i}: kind ${kind} is not an integer 0..255`);
  }
  if (kind === KIND.EOL || kind === KIND.NOP) {
    if (data.length !== 0) throw new Error(`option ${i}: ${optionName(kind)} is one byte and takes no data`);
    return Uint8Array.of(kind);
  }
  if (data.length > MAX_OPTIONS_LEN - 2) {
    throw new Error(`option ${i}: ${data.length} data bytes, at most ${MAX_OPTIONS_LEN - 2} fit`);
  }
  const bytes = new Uint8Array(2 + data.length);
  bytes[0] = kind;
  bytes[1] = bytes.length;
  bytes.set(data, 2);
  return bytes;
}

function checkEncoded(bytes: Uint8Array, i: number): Uint8Array {
  const o = readOption(bytes, 0);
  if (bytes.length === 0 || 'error' in o || o.len !== bytes.length) {
    throw new Error(`option ${i}: raw bytes must be exactly one well-formed option (kind, len, data)`);
  }
  return bytes;
}
