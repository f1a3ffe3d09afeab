// Builders for the inspector tests: TCP handshakes (src/wire), link layers around them, and
// capture files (.pcap through src/inspect/pcap-write, .pcapng built here), written to a temp dir.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type InspectOptions, inspectFile } from '../../src/inspect/inspect.js';
import { type PcapOptions, type PcapPacket, pcapFile } from '../../src/inspect/pcap-write.js';
import {
  ACK,
  buildSegment,
  encodeOptions,
  encodeToa,
  mssOption,
  PSH,
  SYN,
  type ToaInput,
  textToAddress,
} from '../../src/wire/index.js';

export const DIR = mkdtempSync(join(tmpdir(), 'toa-inspect-'));
process.on('exit', () => rmSync(DIR, { recursive: true, force: true }));
let files = 0;

export function tempFile(bytes: Uint8Array, ext = 'pcap'): string {
  const path = join(DIR, `t${files++}.${ext}`);
  writeFileSync(path, bytes);
  return path;
}

export type Role = 'syn' | 'ack' | 'data';

export interface HandshakeSpec {
  lb?: string;
  backend?: string;
  lbPort?: number;
  backendPort?: number;
  /** The TOA option (encodeToa input or raw option bytes) and the segments that carry it. */
  toa?: ToaInput | Uint8Array;
  toaIn?: Role[];
  /** Other options per role, before the TOA (e.g. timestamps to fill the space). */
  extra?: Partial<Record<Role, Uint8Array>>;
  /** Per-role TOA override (conflicts). */
  toaFor?: Partial<Record<Role, ToaInput | Uint8Array>>;
  /** Stop after: 'syn' (no answer), 'rst' (backend resets), 'ack' (no data), or 'data' (default). */
  until?: 'syn' | 'rst' | 'ack' | 'data';
  payload?: Uint8Array;
  mss?: number;
  isn?: number;
}

const toaBytes = (t: ToaInput | Uint8Array) => (t instanceof Uint8Array ? t : encodeToa(t));

/** The IP packets of one connection's start, in order: SYN, SYN-ACK, ACK, first data. */
export function handshake(h: HandshakeSpec): Uint8Array[] {
  const lb = textToAddress(h.lb ?? '198.51.100.1');
  const backend = textToAddress(h.backend ?? '198.51.100.2');
  const lbPort = h.lbPort ?? 40000;
  const backendPort = h.backendPort ?? 80;
  const isn = h.isn ?? 1000;
  const sisn = 5000;
  const opts = (role: Role, base: Uint8Array[]) => {
    const list: Uint8Array[] = [...base];
    const extra = h.extra?.[role];
    if (extra) list.push(extra);
    const t = h.toaFor?.[role] ?? (h.toa && (h.toaIn ?? ['syn']).includes(role) ? h.toa : undefined);
    if (t) list.push(toaBytes(t));
    if (list.length === 0) return new Uint8Array(0);
    // Raw blocks are concatenated as given and padded with NOPs.
    const size = list.reduce((n, b) => n + b.length, 0);
    const block = new Uint8Array(Math.ceil(size / 4) * 4).fill(1);
    let at = 0;
    for (const b of list) {
      block.set(b, at);
      at += b.length;
    }
    return block;
  };
  const fwd = { src: lb, dst: backend, srcPort: lbPort, dstPort: backendPort };
  const back = { src: backend, dst: lb, srcPort: backendPort, dstPort: lbPort };
  const out = [buildSegment({ ...fwd, seq: isn, flags: SYN, options: opts('syn', [mssOption(1460)]) })];
  if (h.until === 'syn') return out;
  out.push(
    buildSegment({
      ...back,
      seq: sisn,
      ack: isn + 1,
      flags: h.until === 'rst' ? 0x04 | ACK : SYN | ACK,
      options: h.until === 'rst' ? new Uint8Array(0) : mssOption(h.mss ?? 1460),
    }),
  );
  if (h.until === 'rst') return out;
  out.push(buildSegment({ ...fwd, seq: isn + 1, ack: sisn + 1, flags: ACK, options: opts('ack', []) }));
  if (h.until === 'ack') return out;
  const payload = h.payload ?? new TextEncoder().encode('GET / HTTP/1.0\r\n\r\n');
  out.push(
    buildSegment({
      ...fwd,
      seq: isn + 1,
      ack: sisn + 1,
      flags: PSH | ACK,
      options: opts('data', []),
      payload,
    }),
  );
  return out;
}

export function encode(list: Parameters<typeof encodeOptions>[0]): Uint8Array {
  return encodeOptions(list);
}

const MAC = [2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
const etherType = (ip: Uint8Array) => ((ip[0] as number) >> 4 === 6 ? [0x86, 0xdd] : [0x08, 0x00]);

/** Ethernet with optional VLAN tags, outermost first: [tpid, vid]. */
export function ether(ip: Uint8Array, tags: [number, number][] = []): Uint8Array {
  const head = [...MAC];
  for (const [tpid, vid] of tags) head.push(tpid >> 8, tpid & 0xff, (vid >> 8) & 0x0f, vid & 0xff);
  return Uint8Array.from([...head, ...etherType(ip), ...ip]);
}

export function sll(ip: Uint8Array): Uint8Array {
  // packet type 0 (to us), ARPHRD_ETHER, address length 6, address + 2 pad, protocol.
  return Uint8Array.from([0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, ...etherType(ip), ...ip]);
}

export function sll2(ip: Uint8Array): Uint8Array {
  // protocol, reserved, ifindex, ARPHRD_ETHER, packet type, address length, address (8).
  return Uint8Array.from([...etherType(ip), 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, ...ip]);
}

export function pcap(
  packets: readonly (Uint8Array | PcapPacket)[],
  o: Partial<PcapOptions> = {},
): Uint8Array {
  return pcapFile(
    { linktype: 101, ...o },
    packets.map((p, i) => (p instanceof Uint8Array ? { data: p, ts: 1_700_000_000 + i / 1000 } : p)),
  );
}

export interface NgInterface {
  linktype: number;
  snaplen?: number;
  /** if_tsresol byte; absent: microseconds. */
  tsresol?: number;
}

export interface NgPacket {
  iface: number;
  data: Uint8Array;
  /** Timestamp in the interface's units. */
  ts?: bigint;
  origLen?: number;
  simple?: boolean;
}

export interface NgSection {
  ifaces: NgInterface[];
  packets: NgPacket[];
  /** Blocks to put between the interfaces and the packets (unknown types the reader must skip). */
  junk?: Uint8Array[];
}

/** A pcapng file: one SHB per section, its IDBs, then its packets (EPB, or SPB when simple). */
export function pcapng(sections: NgSection[], le = true): Uint8Array {
  const blocks: Uint8Array[] = [];
  const block = (type: number, body: Uint8Array) => {
    const len = 12 + Math.ceil(body.length / 4) * 4;
    const b = new Uint8Array(len);
    const v = new DataView(b.buffer);
    v.setUint32(0, type, le);
    v.setUint32(4, len, le);
    b.set(body, 8);
    v.setUint32(len - 4, len, le);
    blocks.push(b);
  };
  for (const s of sections) {
    const shb = new Uint8Array(16);
    const sv = new DataView(shb.buffer);
    sv.setUint32(0, 0x1a2b3c4d, le);
    sv.setUint16(4, 1, le);
    sv.setInt32(8, -1, le);
    sv.setInt32(12, -1, le);
    block(0x0a0d0d0a, shb);
    for (const i of s.ifaces) {
      const body = new Uint8Array(i.tsresol === undefined ? 8 : 20);
      const v = new DataView(body.buffer);
      v.setUint16(0, i.linktype, le);
      v.setUint32(4, i.snaplen ?? 0, le);
      if (i.tsresol !== undefined) {
        v.setUint16(8, 9, le);
        v.setUint16(10, 1, le);
        body[12] = i.tsresol;
        // then opt_endofopt (4 zero bytes)
      }
      block(1, body);
    }
    for (const j of s.junk ?? []) block(0x0bad, j);
    for (const p of s.packets) {
      if (p.simple) {
        const body = new Uint8Array(4 + p.data.length);
        new DataView(body.buffer).setUint32(0, p.origLen ?? p.data.length, le);
        body.set(p.data, 4);
        block(3, body);
        continue;
      }
      const body = new Uint8Array(20 + p.data.length);
      const v = new DataView(body.buffer);
      const ts = p.ts ?? 1_700_000_000_000_000n;
      v.setUint32(0, p.iface, le);
      v.setUint32(4, Number(ts >> 32n), le);
      v.setUint32(8, Number(ts & 0xffffffffn), le);
      v.setUint32(12, p.data.length, le);
      v.setUint32(16, p.origLen ?? p.data.length, le);
      body.set(p.data, 20);
      block(6, body);
    }
  }
  const size = blocks.reduce((n, b) => n + b.length, 0);
  const out = new Uint8Array(size);
  let at = 0;
  for (const b of blocks) {
    out.set(b, at);
    at += b.length;
  }
  return out;
}

// biome-ignore lint/suspicious/noExplicitAny: JSON lines are checked field by field in the tests.
export type Json = any;

/** Runs the inspect operation on bytes; returns the parsed JSON lines and the result. */
export async function inspect(bytes: Uint8Array, o: Partial<InspectOptions> = {}, ext = 'pcap') {
  const lines: string[] = [];
  const result = await inspectFile({ file: tempFile(bytes, ext), json: true, ...o }, (l) => lines.push(l));
  const objects: Json[] = lines.map((l) => JSON.parse(l));
  return { ...result, conns: objects.filter((x) => x.type === 'connection'), objects };
}

const ROOT = join(import.meta.dirname, '..', '..');

/** The CLI as a user runs it (through tsx, no build needed). */
export function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
