// IPv4 and IPv6 headers: build, parse and the Internet checksum. Plain bytes in, plain objects
// out; a packet starts at the IP header (a TUN with IFF_NO_PI, a raw capture without link layer).

export const PROTO_TCP = 6;

export interface IpPacket {
  family: 4 | 6;
  src: Uint8Array;
  dst: Uint8Array;
  protocol: number;
  /** TTL (IPv4) or hop limit (IPv6). */
  ttl: number;
  /** The transport bytes, bounded by the header's length field (trailing padding dropped). */
  payload: Uint8Array;
  /** IPv4 header checksum verified; always true for IPv6, which has none. */
  headerChecksumOk: boolean;
}

export interface IpBuild {
  src: Uint8Array;
  dst: Uint8Array;
  protocol: number;
  payload: Uint8Array;
  ttl?: number;
  /** IPv4 identification; ignored for IPv6. */
  id?: number;
}

/** One's-complement sum of 16-bit big-endian words, folded but not inverted. */
export function sum16(bytes: Uint8Array, initial = 0): number {
  let sum = initial;
  const even = bytes.length & ~1;
  for (let i = 0; i < even; i += 2) sum += ((bytes[i] as number) << 8) | (bytes[i + 1] as number);
  if (even < bytes.length) sum += (bytes[even] as number) << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/** The Internet checksum (RFC 1071) of bytes, with `initial` a partial sum (a pseudo-header). */
export function checksum(bytes: Uint8Array, initial = 0): number {
  return ~sum16(bytes, initial) & 0xffff;
}

/** The partial sum of the TCP/UDP pseudo-header for either family (RFC 793, RFC 8200 8.1). */
export function pseudoHeaderSum(src: Uint8Array, dst: Uint8Array, protocol: number, length: number): number {
  // The length is 16 bits in IPv4's pseudo-header and 32 in IPv6's; both sum the same way.
  return sum16(dst, sum16(src, protocol + (length >>> 16) + (length & 0xffff)));
}

export function buildIp(p: IpBuild): Uint8Array {
  if (p.src.length !== p.dst.length) throw new Error('src and dst must be the same family');
  return p.src.length === 4 ? buildIpv4(p) : buildIpv6(p);
}

function buildIpv4(p: IpBuild): Uint8Array {
  const total = 20 + p.payload.length;
  if (total > 0xffff) throw new Error(`IPv4 packet of ${total} bytes is over 65535: send less at once`);
  const out = new Uint8Array(total);
  const v = new DataView(out.buffer);
  out[0] = 0x45;
  v.setUint16(2, total);
  v.setUint16(4, (p.id ?? 0) & 0xffff);
  v.setUint16(6, 0x4000); // DF: the kernel would otherwise never see us as path-MTU capable
  out[8] = p.ttl ?? 64;
  out[9] = p.protocol;
  out.set(p.src, 12);
  out.set(p.dst, 16);
  v.setUint16(10, checksum(out.subarray(0, 20)));
  out.set(p.payload, 20);
  return out;
}

function buildIpv6(p: IpBuild): Uint8Array {
  if (p.payload.length > 0xffff)
    throw new Error(`IPv6 payload of ${p.payload.length} bytes needs a jumbogram`);
  const out = new Uint8Array(40 + p.payload.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, 0x60000000);
  v.setUint16(4, p.payload.length);
  out[6] = p.protocol;
  out[7] = p.ttl ?? 64;
  out.set(p.src, 8);
  out.set(p.dst, 24);
  out.set(p.payload, 40);
  return out;
}

// Extension headers the kernel may put before TCP (hop-by-hop, routing, destination options);
// compared, not looked up in a Set: this runs for every IPv6 packet of a capture.
const isIpv6Extension = (next: number) => next === 0 || next === 43 || next === 60;

/**
 * Where the fields of an IP packet are, as offsets into the buffer it was found in: what
 * parseIp and the inspector's per-packet path share. Filled in place by viewIp, so reading a
 * capture allocates nothing per packet; nothing is copied and no checksum is computed.
 */
export interface IpView {
  family: 4 | 6;
  /** Offset of the source address; the destination follows it (addrLen bytes each). */
  addr: number;
  addrLen: 4 | 16;
  protocol: number;
  ttl: number;
  /** The transport bytes: payload .. end (bounded by the header's length field). */
  payload: number;
  end: number;
}

export function newIpView(): IpView {
  return { family: 4, addr: 0, addrLen: 4, protocol: 0, ttl: 0, payload: 0, end: 0 };
}

/**
 * Reads the IP header at `at` into `out`; false when it is not a well-formed IPv4/IPv6 packet
 * that fits before `limit` (a captured frame's end), or is a fragment (never reassembled here).
 */
export function viewIp(buf: Uint8Array, at: number, out: IpView, limit = buf.length): boolean {
  const version = (buf[at] ?? 0) >> 4;
  if (version === 4) return viewIpv4(buf, at, out, limit);
  if (version === 6) return viewIpv6(buf, at, out, limit);
  return false;
}

const u16 = (b: Uint8Array, at: number) => ((b[at] as number) << 8) | (b[at + 1] as number);

function viewIpv4(buf: Uint8Array, at: number, out: IpView, limit: number): boolean {
  if (limit - at < 20) return false;
  const ihl = ((buf[at] as number) & 0xf) * 4;
  const total = u16(buf, at + 2);
  if (ihl < 20 || total < ihl || total > limit - at) return false;
  if ((u16(buf, at + 6) & 0x3fff) !== 0) return false;
  out.family = 4;
  out.addr = at + 12;
  out.addrLen = 4;
  out.protocol = buf[at + 9] as number;
  out.ttl = buf[at + 8] as number;
  out.payload = at + ihl;
  out.end = at + total;
  return true;
}

function viewIpv6(buf: Uint8Array, at: number, out: IpView, limit: number): boolean {
  if (limit - at < 40) return false;
  const end = at + 40 + u16(buf, at + 4);
  if (end > limit) return false;
  let next = buf[at + 6] as number;
  let off = at + 40;
  while (isIpv6Extension(next)) {
    if (off + 8 > end) return false;
    next = buf[off] as number;
    off += ((buf[off + 1] as number) + 1) * 8;
  }
  if (off > end || next === 44) return false; // 44: fragment header
  out.family = 6;
  out.addr = at + 8;
  out.addrLen = 16;
  out.protocol = next;
  out.ttl = buf[at + 7] as number;
  out.payload = off;
  out.end = end;
  return true;
}

/** Parse an IP packet; undefined when it is not a well-formed IPv4/IPv6 packet or is a fragment. */
export function parseIp(pkt: Uint8Array): IpPacket | undefined {
  const v = newIpView();
  if (!viewIp(pkt, 0, v)) return undefined;
  return {
    family: v.family,
    src: pkt.slice(v.addr, v.addr + v.addrLen),
    dst: pkt.slice(v.addr + v.addrLen, v.addr + 2 * v.addrLen),
    protocol: v.protocol,
    ttl: v.ttl,
    payload: pkt.subarray(v.payload, v.end),
    headerChecksumOk: v.family === 6 || checksum(pkt.subarray(0, v.payload)) === 0,
  };
}
