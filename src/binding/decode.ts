// struct toa_peer_info (kmod/uapi/toa.h) and struct sockaddr bytes -> plain objects.
import { endianness } from 'node:os';
import { addressTextAt } from '../wire/addr.js';
import { FORMAT_NAMES, type FormatName } from '../wire/formats.js';
import { AF_INET, AF_INET6 } from './syscalls.js';

export type Family = 'IPv4' | 'IPv6';
export type SeenIn = 'syn' | 'ack' | 'data';

export interface Endpoint {
  address: string;
  port: number;
  family: Family;
}

export interface OriginalPeer extends Endpoint {
  /** 'toa': the client a TOA named; 'peer': the socket's own peer (no TOA, or toa.ko not loaded). */
  via: 'toa' | 'peer';
  /** The load balancer that carried the TOA: the connection's raw peer. */
  lb?: Endpoint;
  format?: FormatName;
  seenIn?: SeenIn;
}

const LE = endianness() === 'LE';
// Index arithmetic, not Buffer's read*(): those validate their offset on every call, which
// showed in the lookup's profile. The buffers are the bindings' own, always long enough.
const byte = (b: Buffer, at: number) => b[at] as number;
const be16 = (b: Buffer, at: number) => (byte(b, at) << 8) | byte(b, at + 1);
const u16 = (b: Buffer, at: number) => (LE ? byte(b, at) | (byte(b, at + 1) << 8) : be16(b, at));
/** Four bytes as one number, in whatever order: only compared for equality. */
const word = (b: Buffer, at: number) =>
  byte(b, at) | (byte(b, at + 1) << 8) | (byte(b, at + 2) << 16) | (byte(b, at + 3) << 24);
const SEEN: Record<number, SeenIn> = { 1: 'syn', 2: 'ack', 3: 'data' };
const HAS_PORT = 0x01;

/**
 * One address slot's last bytes and their text. Formatting an address costs about as much as the
 * rest of a lookup, and the same ones recur (a few load balancers; a client's many connections).
 */
interface Memo {
  len: number;
  w: [number, number, number, number];
  text: string;
}
const memo = (): Memo => ({ len: 0, w: [0, 0, 0, 0], text: '' });
const PEER = memo();
const CLIENT = memo();
const LB = memo();

function textAt(m: Memo, b: Buffer, at: number, len: 4 | 16): string {
  const w0 = word(b, at);
  const w1 = len === 16 ? word(b, at + 4) : 0;
  const w2 = len === 16 ? word(b, at + 8) : 0;
  const w3 = len === 16 ? word(b, at + 12) : 0;
  const w = m.w;
  if (m.len === len && w[0] === w0 && w[1] === w1 && w[2] === w2 && w[3] === w3) return m.text;
  m.len = len;
  m.w = [w0, w1, w2, w3];
  m.text = addressTextAt(b, at, len);
  return m.text;
}

/** An address of family AF_INET/AF_INET6 at `at`; null for any other family. */
function endpoint(m: Memo, b: Buffer, family: number, addrAt: number, port: number): Endpoint | null {
  if (family === AF_INET) return { address: textAt(m, b, addrAt, 4), port, family: 'IPv4' };
  if (family === AF_INET6) return { address: textAt(m, b, addrAt, 16), port, family: 'IPv6' };
  return null;
}

/** A filled toa_peer_info; the client port is 0 when the format carries none (28/x, hostid). */
export function decodePeerInfo(b: Buffer, filled: number): OriginalPeer {
  const version = u16(b, 0);
  if (filled < 48 || version < 1)
    throw new Error(`toa.ko answered a toa_peer_info v${version} of ${filled} bytes`);
  const port = b[12] && b[12] & HAS_PORT ? be16(b, 8) : 0;
  const client = endpoint(CLIENT, b, b[4] ?? 0, 16, port);
  const lb = endpoint(LB, b, b[5] ?? 0, 32, be16(b, 10));
  if (!client || !lb) throw new Error(`toa.ko answered unknown families ${b[4]}/${b[5]}`);
  const peer: OriginalPeer = { address: client.address, port, family: client.family, via: 'toa', lb };
  const format = FORMAT_NAMES[b[6] ?? -1];
  if (format) peer.format = format;
  const seen = SEEN[b[7] ?? 0];
  if (seen) peer.seenIn = seen;
  return peer;
}

/** A getpeername() sockaddr as the plain peer; null when it is not AF_INET/AF_INET6. */
export function decodeSockaddr(b: Buffer): OriginalPeer | null {
  const family = u16(b, 0);
  const port = be16(b, 2);
  if (family === AF_INET) return { address: textAt(PEER, b, 4, 4), port, family: 'IPv4', via: 'peer' };
  if (family === AF_INET6) return { address: textAt(PEER, b, 8, 16), port, family: 'IPv6', via: 'peer' };
  return null;
}
