// A small .pcap writer: `toa inspect -w` and the tests' generated captures. Classic pcap only
// (one link type per file), little-endian, micro- or nanosecond timestamps.
import { closeSync, openSync, writeSync } from 'node:fs';

export interface PcapOptions {
  linktype: number;
  snaplen?: number;
  nanos?: boolean;
  /** Byte order of the file; little-endian unless told (tests write both). */
  bigEndian?: boolean;
}

export interface PcapPacket {
  data: Uint8Array;
  /** Seconds since the epoch; a float, or exact with tsSec/tsNsec. */
  ts?: number;
  tsSec?: number;
  tsNsec?: number;
  /** Length on the wire; caplen is data.length. Larger than data.length for a snaplen-cut packet. */
  origLen?: number;
}

export function pcapHeader(o: PcapOptions): Uint8Array {
  const out = new Uint8Array(24);
  const v = new DataView(out.buffer);
  const le = !o.bigEndian;
  v.setUint32(0, o.nanos ? 0xa1b23c4d : 0xa1b2c3d4, le);
  v.setUint16(4, 2, le);
  v.setUint16(6, 4, le);
  v.setUint32(16, o.snaplen ?? 262144, le);
  v.setUint32(20, o.linktype, le);
  return out;
}

export function pcapRecord(p: PcapPacket, o: PcapOptions): Uint8Array {
  const out = new Uint8Array(16 + p.data.length);
  writeRecord(out, 0, p, o);
  return out;
}

function writeRecord(out: Uint8Array, at: number, p: PcapPacket, o: PcapOptions): number {
  const v = new DataView(out.buffer, out.byteOffset, out.byteLength);
  const le = !o.bigEndian;
  let sec = p.tsSec;
  let nsec = p.tsNsec;
  if (sec === undefined) {
    const ts = p.ts ?? 0;
    sec = Math.floor(ts);
    nsec = Math.round((ts - sec) * 1e9);
  }
  nsec ??= 0;
  v.setUint32(at, sec >>> 0, le);
  v.setUint32(at + 4, o.nanos ? nsec : Math.floor(nsec / 1000), le);
  v.setUint32(at + 8, p.data.length, le);
  v.setUint32(at + 12, p.origLen ?? p.data.length, le);
  out.set(p.data, at + 16);
  return at + 16 + p.data.length;
}

/** A whole capture in memory (tests). */
export function pcapFile(o: PcapOptions, packets: readonly PcapPacket[]): Uint8Array {
  const size = 24 + packets.reduce((n, p) => n + 16 + p.data.length, 0);
  const out = new Uint8Array(size);
  out.set(pcapHeader(o));
  let at = 24;
  for (const p of packets) at = writeRecord(out, at, p, o);
  return out;
}

export interface PcapWriter {
  write(p: PcapPacket): void;
  close(): void;
}

/** Writes a capture file through a 1 MiB buffer; close() flushes. */
export function createPcapWriter(path: string, o: PcapOptions): PcapWriter {
  const fd = openSync(path, 'w');
  const buf = new Uint8Array(1 << 20);
  let used = 0;
  const flush = () => {
    let done = 0;
    while (done < used) done += writeSync(fd, buf, done, used - done);
    used = 0;
  };
  writeSync(fd, pcapHeader(o));
  return {
    write(p) {
      if (used + 16 + p.data.length > buf.length) flush();
      if (16 + p.data.length > buf.length) writeSync(fd, pcapRecord(p, o));
      else used = writeRecord(buf, used, p, o);
    },
    close() {
      flush();
      closeSync(fd);
    },
  };
}
