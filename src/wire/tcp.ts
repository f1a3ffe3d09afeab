// TCP segments inside IP packets. The option block is raw bytes placed right after the fixed
// 20-byte header, exactly as given: TOA tests check byte-exact placement, malformed blocks included.
import { buildIp, checksum, type IpView, newIpView, PROTO_TCP, pseudoHeaderSum, viewIp } from './ip.js';
import { encodeOptions, KIND, MAX_OPTIONS_LEN, optionLength } from './options.js';

export const FIN = 0x01;
export const SYN = 0x02;
export const RST = 0x04;
export const PSH = 0x08;
export const ACK = 0x10;
export const URG = 0x20;

export interface Segment {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  flags: number;
  window: number;
  urgent: number;
  /** The option block, between the fixed header and the payload. */
  options: Uint8Array;
  payload: Uint8Array;
}

export interface SegmentBuild {
  src: Uint8Array;
  dst: Uint8Array;
  srcPort: number;
  dstPort: number;
  seq?: number;
  ack?: number;
  flags: number;
  window?: number;
  urgent?: number;
  options?: Uint8Array;
  payload?: Uint8Array;
  /** Data offset in 32-bit words; default from the option block. Set it to build malformed segments. */
  dataOffset?: number;
  /** Checksum to write instead of the right one (malformed-segment tests). */
  checksum?: number;
  ttl?: number;
}

export interface ParsedSegment extends Segment {
  family: 4 | 6;
  src: Uint8Array;
  dst: Uint8Array;
  dataOffset: number;
  checksumOk: boolean;
}

/** Check an option block fits a TCP header as is; the message says how to fix it. */
export function checkOptions(options: Uint8Array, where = 'option block'): void {
  if (options.length % 4 !== 0)
    throw new Error(`${where} is ${options.length} bytes: pad it to a multiple of 4 (NOP=1 or EOL=0)`);
  if (options.length > MAX_OPTIONS_LEN)
    throw new Error(`${where} is ${options.length} bytes: TCP allows at most ${MAX_OPTIONS_LEN}`);
}

/** The TCP header and payload alone, checksummed for the given addresses. */
export function encodeTcp(s: SegmentBuild): Uint8Array {
  const options = s.options ?? new Uint8Array(0);
  const payload = s.payload ?? new Uint8Array(0);
  const dataOffset = s.dataOffset ?? (20 + options.length) / 4;
  if (s.dataOffset === undefined && !Number.isInteger(dataOffset))
    throw new Error(`option block is ${options.length} bytes: pad it to a multiple of 4, or set dataOffset`);
  const out = new Uint8Array(20 + options.length + payload.length);
  const v = new DataView(out.buffer);
  v.setUint16(0, s.srcPort);
  v.setUint16(2, s.dstPort);
  v.setUint32(4, (s.seq ?? 0) >>> 0);
  v.setUint32(8, (s.ack ?? 0) >>> 0);
  out[12] = (dataOffset & 0xf) << 4;
  out[13] = s.flags & 0xff;
  v.setUint16(14, s.window ?? 65535);
  v.setUint16(18, s.urgent ?? 0);
  out.set(options, 20);
  out.set(payload, 20 + options.length);
  const sum = checksum(out, pseudoHeaderSum(s.src, s.dst, PROTO_TCP, out.length));
  v.setUint16(16, s.checksum ?? sum);
  return out;
}

/** A whole IP packet carrying one TCP segment, ready for Tun.write. */
export function buildSegment(s: SegmentBuild): Uint8Array {
  const ip: Parameters<typeof buildIp>[0] = {
    src: s.src,
    dst: s.dst,
    protocol: PROTO_TCP,
    payload: encodeTcp(s),
  };
  if (s.ttl !== undefined) ip.ttl = s.ttl;
  return buildIp(ip);
}

/**
 * A TCP segment read in place (see IpView): the header's numbers, and offsets of the option
 * block (options .. data) and the payload (data .. end). Filled by viewSegment.
 */
export interface SegmentView extends IpView {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  dataOffset: number;
  flags: number;
  window: number;
  urgent: number;
  options: number;
  data: number;
}

export function newSegmentView(): SegmentView {
  return {
    ...newIpView(),
    srcPort: 0,
    dstPort: 0,
    seq: 0,
    ack: 0,
    dataOffset: 0,
    flags: 0,
    window: 0,
    urgent: 0,
    options: 0,
    data: 0,
  };
}

const u16 = (b: Uint8Array, at: number) => ((b[at] as number) << 8) | (b[at + 1] as number);
// Two halves multiplied, not shifted: the result is stored as a number in place, never boxed.
const u32 = (b: Uint8Array, at: number) => u16(b, at) * 0x10000 + u16(b, at + 2);

/**
 * Reads the IP packet at `at` of buf (ending by `limit`) and its TCP header into `out`, without
 * copying or checksumming: false for anything but TCP over IPv4/IPv6, or a data offset that
 * does not fit.
 */
export function viewSegment(buf: Uint8Array, at: number, out: SegmentView, limit = buf.length): boolean {
  if (!viewIp(buf, at, out, limit) || out.protocol !== PROTO_TCP) return false;
  const t = out.payload;
  if (out.end - t < 20) return false;
  const dataOffset = (buf[t + 12] as number) >> 4;
  const hl = dataOffset * 4;
  if (hl < 20 || t + hl > out.end) return false;
  out.srcPort = u16(buf, t);
  out.dstPort = u16(buf, t + 2);
  out.seq = u32(buf, t + 4);
  out.ack = u32(buf, t + 8);
  out.dataOffset = dataOffset;
  out.flags = buf[t + 13] as number;
  out.window = u16(buf, t + 14);
  out.urgent = u16(buf, t + 18);
  out.options = t + 20;
  out.data = t + hl;
  return true;
}

/** Parse an IP packet carrying TCP; undefined for anything else or a data offset that does not fit. */
export function parseSegment(pkt: Uint8Array): ParsedSegment | undefined {
  const v = newSegmentView();
  if (!viewSegment(pkt, 0, v)) return undefined;
  const src = pkt.slice(v.addr, v.addr + v.addrLen);
  const dst = pkt.slice(v.addr + v.addrLen, v.addr + 2 * v.addrLen);
  const t = pkt.subarray(v.payload, v.end);
  const headerOk = v.family === 6 || checksum(pkt.subarray(0, v.payload)) === 0;
  return {
    family: v.family,
    src,
    dst,
    srcPort: v.srcPort,
    dstPort: v.dstPort,
    seq: v.seq,
    ack: v.ack,
    dataOffset: v.dataOffset,
    flags: v.flags,
    window: v.window,
    urgent: v.urgent,
    options: pkt.slice(v.options, v.data),
    payload: pkt.slice(v.data, v.end),
    checksumOk: headerOk && checksum(t, pseudoHeaderSum(src, dst, PROTO_TCP, t.length)) === 0,
  };
}

/** The MSS option (kind 2, length 4). */
export function mssOption(mss: number): Uint8Array {
  return encodeOptions([{ kind: KIND.MSS, data: Uint8Array.of((mss >> 8) & 0xff, mss & 0xff) }]);
}

/** The value of the first option of `kind`, or undefined; the walk stops at EOL or a malformed option. */
export function findOption(options: Uint8Array, kind: number): Uint8Array | undefined {
  const at = findOptionIn(options, 0, options.length, kind);
  if (at < 0) return undefined;
  const len = optionLength(options, at, options.length);
  return options.subarray(at + Math.min(len, 2), at + len);
}

/**
 * findOption over buf[start, end) in place: the offset in buf of the option's kind byte, or -1.
 */
export function findOptionIn(buf: Uint8Array, start: number, end: number, kind: number): number {
  for (let at = start; at < end; ) {
    const len = optionLength(buf, at, end);
    if (len < 0) return -1;
    const k = buf[at] as number;
    if (k === kind) return at;
    if (k === KIND.EOL) return -1;
    at += len;
  }
  return -1;
}

export function flagText(flags: number): string {
  const names: [number, string][] = [
    [SYN, 'S'],
    [FIN, 'F'],
    [RST, 'R'],
    [PSH, 'P'],
    [ACK, '.'],
    [URG, 'U'],
  ];
  return names.map(([bit, n]) => (flags & bit ? n : '')).join('') || 'none';
}
