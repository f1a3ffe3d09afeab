// The FullNAT rewrite of one TCP/IP packet, in a copy: new addresses and ports, an option block
// inserted right after the fixed TCP header (the TOA), a lowered MSS, both checksums recomputed.
// Packets are read with src/wire's viewSegment; input checksums are verified before a rewrite so a
// corrupt packet is dropped instead of leaving with a fresh, valid checksum.
import {
  checksum,
  findOptionIn,
  KIND,
  MAX_OPTIONS_LEN,
  PROTO_TCP,
  pseudoHeaderSum,
  type SegmentView,
} from '../wire/index.js';

export interface Rewrite {
  src: Uint8Array;
  srcPort: number;
  dst: Uint8Array;
  dstPort: number;
  /** Options put before the segment's own; a multiple of 4 bytes (see padOption). */
  insert?: Uint8Array;
  /** Lower the MSS option (when there is one) by this many bytes. */
  mssDelta?: number;
}

// The smallest MSS left after lowering: what IPv4 requires every host to accept (RFC 9293).
const MIN_MSS = 536;

/** One option padded with NOPs to a multiple of 4 bytes, ready for Rewrite.insert. */
export function padOption(option: Uint8Array): Uint8Array {
  const out = new Uint8Array((option.length + 3) & ~3).fill(KIND.NOP);
  out.set(option);
  return out;
}

/** The TCP option bytes the segment carries now. */
export function optionsLength(v: SegmentView): number {
  return v.data - v.options;
}

/** Whether `insert` more option bytes still fit the 40 a TCP header can hold. */
export function optionsFit(v: SegmentView, insert: number): boolean {
  return optionsLength(v) + insert <= MAX_OPTIONS_LEN;
}

/** IPv4 header and TCP checksums of a packet as received (IPv6 has no header checksum). */
export function checksumsOk(pkt: Uint8Array, v: SegmentView): boolean {
  if (v.family === 4 && checksum(pkt.subarray(v.addr - 12, v.payload)) !== 0) return false;
  const src = pkt.subarray(v.addr, v.addr + v.addrLen);
  const dst = pkt.subarray(v.addr + v.addrLen, v.addr + 2 * v.addrLen);
  const tcp = pkt.subarray(v.payload, v.end);
  return checksum(tcp, pseudoHeaderSum(src, dst, PROTO_TCP, tcp.length)) === 0;
}

/**
 * The rewritten copy of the packet `v` describes (an IP packet starting at offset 0 of pkt).
 * Trailing bytes past the IP length are dropped; IPv4 header options and IPv6 extension headers
 * are kept as they are.
 */
export function rewrite(pkt: Uint8Array, v: SegmentView, r: Rewrite): Uint8Array {
  const insert = r.insert ?? new Uint8Array(0);
  if (insert.length % 4 !== 0) throw new Error(`insert is ${insert.length} bytes: pad it with padOption`);
  if (!optionsFit(v, insert.length))
    throw new Error(`${optionsLength(v)} option bytes + ${insert.length} exceed ${MAX_OPTIONS_LEN}`);
  if (r.src.length !== v.addrLen || r.dst.length !== v.addrLen)
    throw new Error(`rewrite addresses must be IPv${v.family} like the packet`);
  const t = v.payload;
  const out = new Uint8Array(v.end + insert.length);
  out.set(pkt.subarray(0, v.options));
  out.set(insert, v.options);
  out.set(pkt.subarray(v.options, v.end), v.options + insert.length);
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);

  out.set(r.src, v.addr);
  out.set(r.dst, v.addr + v.addrLen);
  view.setUint16(t, r.srcPort);
  view.setUint16(t + 2, r.dstPort);
  out[t + 12] = ((v.dataOffset + insert.length / 4) << 4) | ((out[t + 12] as number) & 0x0f);
  if (r.mssDelta) lowerMss(out, t + 20, v.data + insert.length, r.mssDelta);

  const ipStart = v.addr - (v.family === 4 ? 12 : 8);
  if (v.family === 4) {
    view.setUint16(ipStart + 2, out.length - ipStart);
    view.setUint16(ipStart + 10, 0);
    view.setUint16(ipStart + 10, checksum(out.subarray(ipStart, t)));
  } else {
    view.setUint16(ipStart + 4, out.length - ipStart - 40);
  }
  const tcp = out.subarray(t);
  view.setUint16(t + 16, 0);
  view.setUint16(t + 16, checksum(tcp, pseudoHeaderSum(r.src, r.dst, PROTO_TCP, tcp.length)));
  return out;
}

function lowerMss(buf: Uint8Array, start: number, end: number, delta: number): void {
  const at = findOptionIn(buf, start, end, KIND.MSS);
  if (at < 0 || buf[at + 1] !== 4) return;
  const mss = ((buf[at + 2] as number) << 8) | (buf[at + 3] as number);
  const lowered = Math.max(MIN_MSS, mss - delta);
  if (lowered >= mss) return;
  buf[at + 2] = lowered >> 8;
  buf[at + 3] = lowered & 0xff;
}

/**
 * A bare ACK cut from the segment `v` describes: its IP header, its TCP header with no options,
 * flags ACK only, no payload (the window, sequence and acknowledgment numbers kept). Checksums
 * are left for rewrite() to compute; read it with viewSegment.
 */
export function bareAck(pkt: Uint8Array, v: SegmentView): Uint8Array {
  const t = v.payload;
  const out = pkt.slice(0, t + 20);
  const view = new DataView(out.buffer);
  const ipStart = v.addr - (v.family === 4 ? 12 : 8);
  if (v.family === 4) view.setUint16(ipStart + 2, out.length - ipStart);
  else view.setUint16(ipStart + 4, out.length - ipStart - 40);
  out[t + 12] = 5 << 4;
  out[t + 13] = 0x10;
  view.setUint16(t + 18, 0);
  return out;
}
