// The TOA decoder and encoder. The rules are test/vectors/README.md's; kmod/toa_parse.c
// implements the same rules and the shared vectors hold both to the same answers.

import { addressTextAt, textToAddress } from './addr.js';
import {
  FORMATS,
  type Format,
  type FormatName,
  formatSpec,
  HOSTID_EXID,
  KIND28_VERSION,
  toMask,
} from './formats.js';
import { KIND, MAX_OPTIONS_LEN, OPT_TRUNC, optionLength } from './options.js';

export const REASONS = [
  'too-long',
  'opt-trunc',
  'opt-len',
  'toa-len',
  'toa-dup',
  'toa-version',
  'hostid-len',
] as const;

export type Reason = (typeof REASONS)[number];

export type Toa = {
  format: FormatName;
  kind: number;
  family: 4 | 6;
  address: string;
  /** null for formats without a port (kind 28, HOST_ID). */
  port: number | null;
  /** Offset of the option's kind byte in the block. */
  offset: number;
  /** Only for 254/16, which also carries the address the client connected to. */
  vip?: { address: string; port: number };
};

/**
 * `offset` is the kind byte of the option that failed; for too-long it is 40, the first byte
 * past what a TCP header can hold.
 */
export type ToaResult =
  | { status: 'none' }
  | { status: 'toa'; toa: Toa }
  | { status: 'error'; reason: Reason; offset: number };

// How a claimed kind is decoded under one format set; indexed by kind (256 entries).
type Claim = { hostid: Format | undefined; byLen: (Format | undefined)[] };
type Claims = (Claim | undefined)[];

const claimCache = new Map<number, Claims>();
// The inspector asks with one mask for every segment: that one is kept at hand, not looked up.
let lastMask = -1;
let lastClaims: Claims = [];

function claimsFor(mask: number): Claims {
  if (mask === lastMask) return lastClaims;
  let claims = claimCache.get(mask);
  if (!claims) claims = newClaims(mask);
  lastMask = mask;
  lastClaims = claims;
  return claims;
}

function newClaims(mask: number): Claims {
  const claims: Claims = new Array<Claim | undefined>(256).fill(undefined);
  for (const [bit, f] of FORMATS.entries()) {
    if ((mask & (1 << bit)) === 0) continue;
    let c = claims[f.kind];
    if (!c) {
      c = { hostid: undefined, byLen: new Array<Format | undefined>(41).fill(undefined) };
      claims[f.kind] = c;
    }
    if (f.len === null) c.hostid = f;
    else c.byLen[f.len] = f;
  }
  claimCache.set(mask, claims);
  return claims;
}

const NONE: ToaResult = Object.freeze({ status: 'none' });

/**
 * Finds the TOA in a TCP option block under the accepted formats (names or a mask; the
 * default set when absent). The whole block is walked up to EOL: a malformed option or a
 * second TOA anywhere makes the result an error, which the kernel treats as "no TOA".
 */
export function parseToa(block: Uint8Array, formats?: Iterable<FormatName> | number): ToaResult {
  return parseToaIn(block, 0, block.length, formats);
}

/**
 * parseToa over buf[start, end) read in place (a capture buffer: nothing is copied); offsets
 * in the result count from start. A mask is the cheapest form of formats.
 */
export function parseToaIn(
  buf: Uint8Array,
  start: number,
  end: number,
  formats?: Iterable<FormatName> | number,
): ToaResult {
  if (end - start > MAX_OPTIONS_LEN) return { status: 'error', reason: 'too-long', offset: MAX_OPTIONS_LEN };
  const claims = claimsFor(toMask(formats));
  let found: Toa | undefined;
  for (let at = start; at < end; ) {
    const len = optionLength(buf, at, end);
    if (len < 0)
      return { status: 'error', reason: len === OPT_TRUNC ? 'opt-trunc' : 'opt-len', offset: at - start };
    const kind = buf[at] as number;
    if (kind === KIND.EOL) break;
    const claim = claims[kind];
    if (claim) {
      const r = decodeClaimed(buf, at, len, start, claim);
      if (typeof r === 'string') return { status: 'error', reason: r, offset: at - start };
      if (r) {
        if (found) return { status: 'error', reason: 'toa-dup', offset: at - start };
        found = r;
      }
    }
    at += len;
  }
  return found ? { status: 'toa', toa: found } : NONE;
}

// The option of `len` bytes at `at` of buf, whose kind a format claims. null: not a TOA after
// all (a kind 28 option of a length no accepted format has).
function decodeClaimed(
  buf: Uint8Array,
  at: number,
  len: number,
  start: number,
  claim: Claim,
): Toa | Reason | null {
  const data = at + 2; // the payload after kind and length
  const offset = at - start;
  if (claim.hostid && len >= 4 && u16(buf, data) === HOSTID_EXID) {
    const idLen = len - 4;
    if (idLen !== 4 && idLen !== 16) return 'hostid-len';
    return toa(claim.hostid, offset, buf, data + 2, idLen, null);
  }
  const f = claim.byLen[len];
  // Kind 28 is also IANA's User Timeout (len 4), which must pass through untouched.
  if (!f) return buf[at] === KIND.USER_TIMEOUT ? null : 'toa-len';
  switch (f.layout) {
    case 'port-addr':
      return toa(f, offset, buf, data + 2, len - 4, u16(buf, data));
    case 'version-addr':
      if (buf[data] !== KIND28_VERSION) return 'toa-version';
      return toa(f, offset, buf, data + 1, len - 3, null);
    case 'port-addr-vip': {
      const t = toa(f, offset, buf, data + 2, 4, u16(buf, data));
      t.vip = { address: addressTextAt(buf, data + 10, 4), port: u16(buf, data + 8) };
      return t;
    }
    case 'hostid':
      // Host id formats have no fixed length, so they are never found by length.
      throw new Error(`format ${f.name} cannot be matched by length`);
  }
}

function toa(
  f: Format,
  offset: number,
  buf: Uint8Array,
  addr: number,
  addrLen: number,
  port: number | null,
): Toa {
  return {
    format: f.name,
    kind: f.kind,
    family: addrLen === 4 ? 4 : 6,
    address: addressTextAt(buf, addr, addrLen),
    port,
    offset,
  };
}

function u16(b: Uint8Array, at: number): number {
  return ((b[at] ?? 0) << 8) | (b[at + 1] ?? 0);
}

export type ToaInput = {
  format: FormatName;
  /** The client: IPv4 or IPv6 text as the format requires (HOST_ID takes either). */
  address: string;
  /** Required by the formats that carry one; must be absent or null for the others. */
  port?: number | null;
  /** Required by 254/16, refused by the others. */
  vip?: { address: string; port: number };
};

/** Encodes one TOA option (kind, len, payload); put it in a block with encodeOptions. */
export function encodeToa(input: ToaInput): Uint8Array {
  const { format, address, port, vip } = input;
  const f = formatSpec(format);
  const addr = textToAddress(address);
  const carriesPort = f.layout === 'port-addr' || f.layout === 'port-addr-vip';
  if (carriesPort) checkPort(port, `format ${format} port`);
  else if (port !== undefined && port !== null) {
    throw new Error(`format ${format} carries no port: leave port out (got ${port})`);
  }
  if (f.layout === 'port-addr-vip') {
    if (!vip) throw new Error(`format ${format} carries the VIP: pass vip {address, port}`);
  } else if (vip) {
    throw new Error(`format ${format} carries no VIP: leave vip out, or use 254/16`);
  }

  switch (f.layout) {
    case 'port-addr':
      checkFamily(format, address, addr, f.len === 8 ? 4 : 16);
      return option(f.kind, be16(port as number), addr);
    case 'version-addr':
      checkFamily(format, address, addr, f.len === 7 ? 4 : 16);
      return option(f.kind, Uint8Array.of(KIND28_VERSION), addr);
    case 'port-addr-vip': {
      const v = vip as { address: string; port: number };
      checkFamily(format, address, addr, 4);
      const vaddr = textToAddress(v.address);
      checkFamily(`${format} vip`, v.address, vaddr, 4);
      checkPort(v.port, `format ${format} vip port`);
      return option(f.kind, be16(port as number), addr, new Uint8Array(2), be16(v.port), vaddr);
    }
    case 'hostid':
      return option(f.kind, be16(HOSTID_EXID), addr);
  }
}

function checkPort(port: unknown, what: string): void {
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 0xffff) {
    throw new Error(`${what} must be an integer 0..65535, got ${String(port)}`);
  }
}

function checkFamily(format: string, text: string, addr: Uint8Array, want: 4 | 16): void {
  if (addr.length === want) return;
  const hint = want === 16 ? ' (an IPv4 client goes in as ::ffff:a.b.c.d)' : '';
  throw new Error(
    `${format} carries an IPv${want === 4 ? 4 : 6} address, got ${JSON.stringify(text)}${hint}`,
  );
}

function be16(n: number): Uint8Array {
  return Uint8Array.of(n >> 8, n & 0xff);
}

function option(kind: number, ...parts: Uint8Array[]): Uint8Array {
  const len = 2 + parts.reduce((n, p) => n + p.length, 0);
  const bytes = new Uint8Array(len);
  bytes[0] = kind;
  bytes[1] = len;
  let at = 2;
  for (const p of parts) {
    bytes.set(p, at);
    at += p.length;
  }
  return bytes;
}
