// TCP segments inside IP packets. The option block is raw bytes placed right after the fixed
// 20-byte header, exactly as given: TOA tests check byte-exact placement, malformed blocks included.
import { buildIp, checksum, PROTO_TCP, parseIp, pseudoHeaderSum } from './ip.js';
import { decodeOptions, encodeOptions, KIND, MAX_OPTIONS_LEN } from './options.js';

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

/** Parse an IP packet carrying TCP; undefined for anything else or a data offset that does not fit. */
export function parseSegment(pkt: Uint8Array): ParsedSegment | undefined {
  const ip = parseIp(pkt);
  if (!ip || ip.protocol !== PROTO_TCP || ip.payload.length < 20) return undefined;
  const t = ip.payload;
  const v = new DataView(t.buffer, t.byteOffset, t.byteLength);
  const dataOffset = (t[12] as number) >> 4;
  const hl = dataOffset * 4;
  if (hl < 20 || hl > t.length) return undefined;
  return {
    family: ip.family,
    src: ip.src,
    dst: ip.dst,
    srcPort: v.getUint16(0),
    dstPort: v.getUint16(2),
    seq: v.getUint32(4),
    ack: v.getUint32(8),
    dataOffset,
    flags: t[13] as number,
    window: v.getUint16(14),
    urgent: v.getUint16(18),
    options: t.slice(20, hl),
    payload: t.slice(hl),
    checksumOk:
      ip.headerChecksumOk && checksum(t, pseudoHeaderSum(ip.src, ip.dst, PROTO_TCP, t.length)) === 0,
  };
}

/** The MSS option (kind 2, length 4). */
export function mssOption(mss: number): Uint8Array {
  return encodeOptions([{ kind: KIND.MSS, data: Uint8Array.of((mss >> 8) & 0xff, mss & 0xff) }]);
}

/** The value of the first option of `kind`, or undefined; the walk stops at EOL or a malformed option. */
export function findOption(options: Uint8Array, kind: number): Uint8Array | undefined {
  return decodeOptions(options).find((o) => o.kind === kind && o.error === undefined)?.data;
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
