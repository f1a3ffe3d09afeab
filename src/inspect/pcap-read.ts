// A streaming reader for .pcap and .pcapng capture files. Bytes are pushed in chunks of any size
// and each packet record is handed to a callback as it completes, so a file is never held whole.
// The record object is reused and its bytes are the reader's buffer: copy what must outlive the
// callback.
import { closeSync, openSync, readSync } from 'node:fs';

export type CaptureFormat = 'pcap' | 'pcapng';

export interface CaptureRecord {
  /** 0-based index of the packet in the file. */
  index: number;
  /** Byte offset in the file of the record (pcap) or block (pcapng) holding it. */
  offset: number;
  /** Capture time: seconds since the epoch (float), and its exact split. */
  ts: number;
  tsSec: number;
  tsNsec: number;
  /** Interface number: always 0 in .pcap; in .pcapng counted from 0 across sections. */
  iface: number;
  linktype: number;
  snaplen: number;
  caplen: number;
  origLen: number;
  /** The captured bytes are buf[start, start + caplen): the reader's buffer, valid during the callback. */
  buf: Uint8Array;
  start: number;
}

/** A record's captured bytes as a view of their own (the hot path reads buf from start instead). */
export function recordBytes(r: Pick<CaptureRecord, 'buf' | 'start' | 'caplen'>): Uint8Array {
  return r.buf.subarray(r.start, r.start + r.caplen);
}

export interface CaptureParser {
  /** Feed the next bytes of the file; records completed by them are reported before it returns. */
  push(chunk: Uint8Array): void;
  /**
   * push without a copy: parses what is whole in buf, which must start where the previous call
   * stopped, and returns how many bytes it consumed; the caller passes the rest again at the head
   * of the next buf. (push copies its leftover and the next chunk together.)
   */
  parse(buf: Uint8Array): number;
  /** The file ended: throws when it ended inside a header, record or block. */
  end(): void;
  format(): CaptureFormat | undefined;
}

/** A record or block bigger than this is corruption, not a packet (Wireshark caps at 256 KiB). */
export const MAX_BLOCK = 16 << 20;

const PCAP_US = 0xa1b2c3d4;
const PCAP_NS = 0xa1b23c4d;
const PCAPNG_SHB = 0x0a0d0d0a;
const PCAPNG_BOM = 0x1a2b3c4d;
const BLOCK_IDB = 1;
const BLOCK_OPB = 2; // obsolete packet block, still written by old tools
const BLOCK_SPB = 3;
const BLOCK_EPB = 6;
const OPT_TSRESOL = 9;
const OPT_TSOFFSET = 14;

export function captureError(offset: number, what: string): Error {
  return new Error(`byte ${offset}: ${what}`);
}

interface Iface {
  linktype: number;
  snaplen: number;
  /** Timestamp units per second (if_tsresol); 1e6 unless the IDB says otherwise. */
  units: number;
  /** if_tsoffset: seconds added to every timestamp. */
  tsOffset: number;
}

/** Parse a capture file pushed in chunks; `onRecord` gets each packet in file order. */
export function createCaptureParser(onRecord: (r: CaptureRecord) => void): CaptureParser {
  let kind: CaptureFormat | undefined;
  let pending: Uint8Array | undefined; // bytes of an incomplete header/record/block
  // Where pending and the next chunk are joined: one buffer reused for the whole file, so
  // reading allocates no memory per chunk.
  let joined = new Uint8Array(0);

  function join(head: Uint8Array, tail: Uint8Array): Uint8Array {
    const size = head.length + tail.length;
    if (joined.length < size) {
      const bigger = new Uint8Array(Math.max(size, 2 * joined.length));
      bigger.set(head);
      joined = bigger;
    } else if (head.buffer === joined.buffer)
      joined.copyWithin(0, head.byteOffset, head.byteOffset + head.length);
    else joined.set(head);
    joined.set(tail, head.length);
    return joined.subarray(0, size);
  }
  let base = 0; // file offset of the first byte of `pending` (or of the next chunk)
  let le = true;
  let nanos = false;
  // pcapng: interfaces of the current section, and how many earlier sections declared.
  let ifaces: Iface[] = [];
  let ifaceBase = 0;
  let sections = 0;
  // Plain data fields only: an accessor in this literal makes every store to it slow (it cost a
  // third of the reading time).
  const rec: CaptureRecord = {
    index: 0,
    offset: 0,
    ts: 0,
    tsSec: 0,
    tsNsec: 0,
    iface: 0,
    linktype: 0,
    snaplen: 0,
    caplen: 0,
    origLen: 0,
    buf: new Uint8Array(0),
    start: 0,
  };

  function emit(): void {
    rec.ts = rec.tsSec + rec.tsNsec / 1e9;
    onRecord(rec);
    rec.index++;
  }

  // Returns how many bytes of buf were consumed; the rest waits for more input.
  function parsePcapHeader(buf: Uint8Array, v: DataView): number {
    if (buf.length < 24) return 0;
    const magicBe = v.getUint32(0, false);
    le = magicBe !== PCAP_US && magicBe !== PCAP_NS;
    nanos = v.getUint32(0, le) === PCAP_NS;
    const major = v.getUint16(4, le);
    if (major !== 2)
      throw captureError(4, `pcap version ${major} is not 2: not a pcap file this reader knows`);
    rec.snaplen = v.getUint32(16, le);
    // The top bits of the link type field may hold an FCS length (pcap spec): not the type.
    rec.linktype = v.getUint32(20, le) & 0xffff;
    rec.iface = 0;
    return 24;
  }

  function parsePcapRecords(buf: Uint8Array, v: DataView, start: number): number {
    let at = start;
    const n = buf.length;
    rec.buf = buf; // once per chunk: a pointer store per record costs a write barrier each
    while (at + 16 <= n) {
      const caplen = v.getUint32(at + 8, le);
      if (caplen > MAX_BLOCK)
        throw captureError(base + at, `record claims ${caplen} captured bytes: the file is corrupt`);
      if (at + 16 + caplen > n) break;
      rec.offset = base + at;
      rec.tsSec = v.getUint32(at, le);
      const frac = v.getUint32(at + 4, le);
      rec.tsNsec = nanos ? frac : frac * 1000;
      rec.caplen = caplen;
      rec.origLen = v.getUint32(at + 12, le);
      rec.start = at + 16;
      emit();
      at += 16 + caplen;
    }
    return at;
  }

  function parseBlocks(buf: Uint8Array, v: DataView, start: number): number {
    let at = start;
    const n = buf.length;
    rec.buf = buf;
    while (at + 12 <= n) {
      let type = v.getUint32(at, le);
      if (type === PCAPNG_SHB) {
        const bom = v.getUint32(at + 8, true);
        if (bom === PCAPNG_BOM) le = true;
        else if (bom === 0x4d3c2b1a) le = false;
        else throw captureError(base + at + 8, 'pcapng section header has no byte-order magic: corrupt file');
        type = PCAPNG_SHB;
      } else if (sections === 0) {
        throw captureError(base + at, 'pcapng file does not start with a section header block');
      }
      const len = v.getUint32(at + 4, le);
      if (len < 12 || len % 4 !== 0)
        throw captureError(base + at, `pcapng block length ${len} is not a multiple of 4 of at least 12`);
      if (len > MAX_BLOCK)
        throw captureError(base + at, `pcapng block claims ${len} bytes: the file is corrupt`);
      if (at + len > n) break;
      if (v.getUint32(at + len - 4, le) !== len)
        throw captureError(base + at, `pcapng block's trailing length differs from its leading ${len}`);
      block(buf, v, type, at, len);
      at += len;
    }
    return at;
  }

  function block(buf: Uint8Array, v: DataView, type: number, at: number, len: number): void {
    const end = at + len - 4;
    switch (type) {
      case PCAPNG_SHB: {
        if (len < 28) throw captureError(base + at, `pcapng section header of ${len} bytes is too short`);
        const major = v.getUint16(at + 12, le);
        if (major !== 1) throw captureError(base + at, `pcapng version ${major} is not 1`);
        ifaceBase += ifaces.length;
        ifaces = [];
        sections++;
        return;
      }
      case BLOCK_IDB: {
        if (len < 20) throw captureError(base + at, `pcapng interface block of ${len} bytes is too short`);
        const iface: Iface = {
          linktype: v.getUint16(at + 8, le),
          snaplen: v.getUint32(at + 12, le),
          units: 1e6,
          tsOffset: 0,
        };
        readIfaceOptions(buf, v, at + 16, end, iface);
        ifaces.push(iface);
        return;
      }
      case BLOCK_EPB:
      case BLOCK_OPB: {
        if (len < 32) throw captureError(base + at, `pcapng packet block of ${len} bytes is too short`);
        const id = type === BLOCK_EPB ? v.getUint32(at + 8, le) : v.getUint16(at + 8, le);
        const caplen = v.getUint32(at + 20, le);
        if (28 + caplen > len - 4)
          throw captureError(base + at, `pcapng packet block holds ${len} bytes, not ${caplen} captured`);
        packet(at, id, v.getUint32(at + 12, le), v.getUint32(at + 16, le), caplen, v.getUint32(at + 24, le));
        rec.start = at + 28;
        emit();
        return;
      }
      case BLOCK_SPB: {
        if (len < 16)
          throw captureError(base + at, `pcapng simple packet block of ${len} bytes is too short`);
        const origLen = v.getUint32(at + 8, le);
        const iface = ifaces[0];
        let caplen = Math.min(origLen, len - 16);
        if (iface && iface.snaplen > 0) caplen = Math.min(caplen, iface.snaplen);
        packet(at, 0, 0, 0, caplen, origLen);
        rec.tsSec = 0; // a simple packet block has no timestamp
        rec.tsNsec = 0;
        rec.start = at + 12;
        emit();
        return;
      }
      default:
      // Name resolution, statistics, decryption secrets, custom blocks: not packets.
    }
  }

  function packet(at: number, id: number, hi: number, lo: number, caplen: number, origLen: number): void {
    const iface = ifaces[id];
    if (!iface)
      throw captureError(
        base + at,
        `packet on interface ${id}, but this section declared ${ifaces.length} interface(s)`,
      );
    rec.offset = base + at;
    rec.iface = ifaceBase + id;
    rec.linktype = iface.linktype;
    rec.snaplen = iface.snaplen;
    rec.caplen = caplen;
    rec.origLen = origLen;
    splitTimestamp(hi, lo, iface.units, rec);
    rec.tsSec += iface.tsOffset;
  }

  function readIfaceOptions(buf: Uint8Array, v: DataView, from: number, end: number, iface: Iface): void {
    for (let at = from; at + 4 <= end; ) {
      const code = v.getUint16(at, le);
      const olen = v.getUint16(at + 2, le);
      if (code === 0) return;
      if (at + 4 + olen > end) throw captureError(base + at, `interface option ${code} runs past its block`);
      if (code === OPT_TSRESOL && olen >= 1) {
        const r = buf[at + 4] as number;
        const exp = r & 0x7f;
        iface.units = r & 0x80 ? 2 ** exp : 10 ** exp;
      } else if (code === OPT_TSOFFSET && olen >= 8) {
        const hi = v.getInt32(at + 4 + (le ? 4 : 0), le);
        const lo = v.getUint32(at + 4 + (le ? 0 : 4), le);
        iface.tsOffset = hi * 2 ** 32 + lo;
      }
      at += 4 + ((olen + 3) & ~3);
    }
  }

  function detect(buf: Uint8Array, v: DataView): void {
    const m = v.getUint32(0, false);
    if (m === PCAP_US || m === PCAP_NS) kind = 'pcap';
    else {
      const r = v.getUint32(0, true);
      if (r === PCAP_US || r === PCAP_NS) kind = 'pcap';
      else if (m === PCAPNG_SHB) kind = 'pcapng';
    }
    if (!kind) {
      const head = Buffer.from(buf.subarray(0, 4)).toString('hex');
      throw new Error(`not a pcap or pcapng file (it starts with ${head})`);
    }
  }

  // Bytes the last parse left for the next one: a file that ends with some is truncated.
  let unconsumed = 0;

  function parse(buf: Uint8Array): number {
    const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    let at = 0;
    if (!kind) {
      if (buf.length < 4) {
        unconsumed = buf.length;
        return 0;
      }
      detect(buf, v);
    }
    if (kind === 'pcap') {
      if (base === 0) {
        at = parsePcapHeader(buf, v);
        if (at === 0) {
          unconsumed = buf.length;
          return 0;
        }
      }
      at = parsePcapRecords(buf, v, at);
    } else {
      at = parseBlocks(buf, v, at);
    }
    base += at;
    unconsumed = buf.length - at;
    return at;
  }

  return {
    format: () => kind,
    push(chunk: Uint8Array): void {
      // A plain Uint8Array view: subarray on a Buffer goes through its species constructor, slowly.
      let buf = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      if (pending) buf = join(pending, buf);
      const used = parse(buf);
      pending = used < buf.length ? buf.subarray(used) : undefined;
    },
    parse,
    end(): void {
      const left = unconsumed;
      if (left === 0) {
        if (!kind) throw new Error('not a pcap or pcapng file (it is empty)');
        return;
      }
      if (!kind) throw new Error(`not a pcap or pcapng file (only ${left} bytes)`);
      throw captureError(base, `file is truncated: ${left} bytes of an incomplete ${unit()} at its end`);
    },
  };

  function unit(): string {
    if (kind === 'pcapng') return 'block';
    return base === 0 ? 'file header' : 'record';
  }
}

/** Timestamp units since the epoch, as two 32-bit halves, split into whole seconds and ns. */
export function splitTimestamp(
  hi: number,
  lo: number,
  units: number,
  out: { tsSec: number; tsNsec: number },
) {
  if (units === 1e6) {
    // The common case; exact while hi < 2^21 (until the year 2262 in microseconds).
    const t = hi * 4294967296 + lo;
    const sec = Math.floor(t / 1e6);
    out.tsSec = sec;
    out.tsNsec = (t - sec * 1e6) * 1000;
    return;
  }
  if (units <= 2 ** 36) {
    // Long division by 16-bit limbs keeps every step exact for 64-bit values.
    let q = 0;
    let r = 0;
    for (const limb of [hi >>> 16, hi & 0xffff, lo >>> 16, lo & 0xffff]) {
      const cur = r * 65536 + limb;
      const d = Math.floor(cur / units);
      q = q * 65536 + d;
      r = cur - d * units;
    }
    out.tsSec = q;
    out.tsNsec = units === 1e9 ? r : Math.floor((r * 1e9) / units);
    return;
  }
  const t = (hi * 4294967296 + lo) / units;
  out.tsSec = Math.floor(t);
  out.tsNsec = Math.floor((t - out.tsSec) * 1e9);
}

/**
 * Read a capture file in chunks; resolves with what was read, rejects on the first error.
 * Reads are synchronous (a file, mostly in the page cache: a thread-pool round trip per chunk
 * costs more than the copy) into one buffer: the unfinished record at the end of a chunk is moved
 * to its head and the next read lands right after it, so no chunk is copied again and reading a
 * file allocates nothing per chunk (the buffer doubles only for a record bigger than half of it).
 */
export async function readCapture(
  path: string,
  onRecord: (r: CaptureRecord) => void,
  chunkSize = 1 << 20,
): Promise<{ format: CaptureFormat; packets: number }> {
  let packets = 0;
  const parser = createCaptureParser((r) => {
    packets = r.index + 1;
    onRecord(r);
  });
  const fd = openSync(path, 'r');
  try {
    let buf = new Uint8Array(chunkSize);
    let left = 0;
    for (;;) {
      if (buf.length - left < chunkSize / 2) {
        const bigger = new Uint8Array(2 * buf.length);
        bigger.set(buf.subarray(0, left));
        buf = bigger;
      }
      const n = readSync(fd, buf, left, buf.length - left, null);
      if (n === 0) break;
      const size = left + n;
      const used = parser.parse(buf.subarray(0, size));
      left = size - used;
      buf.copyWithin(0, used, size);
    }
  } finally {
    closeSync(fd);
  }
  parser.end();
  return { format: parser.format() as CaptureFormat, packets };
}
