// The benchmark's capture: many interleaved TCP connections over Ethernet that open, talk and
// close (FIN both ways, or RST), 10% of them with a TOA, so a reader's memory can be judged
// on a long file. Deterministic: the same count always gives the same bytes.
import { createPcapWriter } from '../../src/inspect/pcap-write.js';
import {
  ACK,
  buildSegment,
  encodeOptions,
  encodeToa,
  FIN,
  KIND,
  mssOption,
  PSH,
  RST,
  SYN,
  textToAddress,
} from '../../src/wire/index.js';

/** Connections open at once; each slot runs one connection after another. */
const SLOTS = 256;
/** Capture time between packets: 1M packets span 100 s, far more than the tracker keeps a closed one. */
const STEP_NS = 100_000;

// A small LCG: the file must not change between runs (it is cached by name).
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const SYN_OPTIONS = encodeOptions([
  mssOption(1460),
  { kind: KIND.SACK_PERMITTED },
  { kind: KIND.TIMESTAMPS, data: new Uint8Array(8).fill(7) },
  { kind: KIND.WSCALE, data: Uint8Array.of(7) },
]);
const TS_OPTION = encodeOptions([
  { kind: KIND.NOP },
  { kind: KIND.NOP },
  { kind: KIND.TIMESTAMPS, data: new Uint8Array(8).fill(9) },
]);
const REQUEST = new TextEncoder().encode(`GET /${'x'.repeat(60)} HTTP/1.1\r\nHost: bench\r\n\r\n`);
const RESPONSE = new TextEncoder().encode(`HTTP/1.1 200 OK\r\n\r\n${'y'.repeat(180)}`);

const ether = (ip: Uint8Array) => {
  const frame = new Uint8Array(14 + ip.length);
  frame.set([2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2]);
  frame[12] = (ip[0] as number) >> 4 === 6 ? 0x86 : 0x08;
  frame[13] = (ip[0] as number) >> 4 === 6 ? 0xdd : 0x00;
  frame.set(ip, 14);
  return frame;
};

// Two option blocks end to end, NOP-padded to whole words.
function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array((a.length + b.length + 3) & ~3).fill(KIND.NOP);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** The frames of connection n, in order. */
function connection(n: number, rand: () => number): Uint8Array[] {
  const v6 = n % 10 === 3 || n % 20 === 17;
  // FullNAT: the backend sees the LB's few local addresses; the clients are in the TOA.
  const lb = textToAddress(v6 ? `2001:db8::${(n % 16) + 1}` : `10.1.0.${(n % 16) + 1}`);
  const backend = textToAddress(v6 ? '2001:db8:1::80' : '10.0.0.80');
  const lbPort = 1024 + ((n >> 4) % 60000);
  const backendPort = n % 3 === 0 ? 443 : 80;
  const withToa = n % 10 === 7;
  const toa = withToa
    ? encodeToa(
        n % 20 === 7
          ? { format: '254/8', address: `203.0.${(n >> 8) & 0xff}.${n & 0xff}`, port: 1024 + (n % 50000) }
          : {
              format: '254/20',
              address: `2001:db8:c::${(n & 0xffff).toString(16)}`,
              port: 2000 + (n % 40000),
            },
      )
    : undefined;
  // LVS puts it in the SYN or in the handshake-completing ACK (and the first data): both kinds.
  const toaInSyn = n % 40 === 7;
  const isn = Math.floor(rand() * 2 ** 32);
  const sisn = Math.floor(rand() * 2 ** 32);
  const fwd = { src: lb, dst: backend, srcPort: lbPort, dstPort: backendPort };
  const back = { src: backend, dst: lb, srcPort: backendPort, dstPort: lbPort };
  const withT = (o: Uint8Array) => (toa ? concat(o, toa) : o);
  const seq = (base: number, d: number) => (base + d) >>> 0;
  const out = [
    buildSegment({
      ...fwd,
      seq: isn,
      flags: SYN,
      options: toa && toaInSyn ? withT(SYN_OPTIONS) : SYN_OPTIONS,
    }),
  ];
  if (n % 50 === 11) return [...out, out[0] as Uint8Array]; // unanswered, retransmitted
  if (n % 50 === 23) {
    // Refused: the backend resets the SYN.
    out.push(buildSegment({ ...back, seq: 0, ack: seq(isn, 1), flags: RST | ACK }));
    return out;
  }
  out.push(buildSegment({ ...back, seq: sisn, ack: seq(isn, 1), flags: SYN | ACK, options: SYN_OPTIONS }));
  const a = (o: Uint8Array) => (toa && !toaInSyn ? withT(o) : o);
  out.push(buildSegment({ ...fwd, seq: seq(isn, 1), ack: seq(sisn, 1), flags: ACK, options: a(TS_OPTION) }));
  out.push(
    buildSegment({
      ...fwd,
      seq: seq(isn, 1),
      ack: seq(sisn, 1),
      flags: PSH | ACK,
      options: a(TS_OPTION),
      payload: REQUEST,
    }),
  );
  const reqEnd = seq(isn, 1 + REQUEST.length);
  if (n % 8 === 5) {
    out.push(buildSegment({ ...back, seq: seq(sisn, 1), ack: reqEnd, flags: RST | ACK }));
    return out;
  }
  const resEnd = seq(sisn, 1 + RESPONSE.length);
  out.push(
    buildSegment({
      ...back,
      seq: seq(sisn, 1),
      ack: reqEnd,
      flags: PSH | ACK,
      options: TS_OPTION,
      payload: RESPONSE,
    }),
    buildSegment({ ...fwd, seq: reqEnd, ack: resEnd, flags: ACK, options: TS_OPTION }),
    buildSegment({ ...fwd, seq: reqEnd, ack: resEnd, flags: FIN | ACK, options: TS_OPTION }),
    buildSegment({ ...back, seq: resEnd, ack: seq(reqEnd, 1), flags: FIN | ACK, options: TS_OPTION }),
    buildSegment({ ...fwd, seq: seq(reqEnd, 1), ack: seq(resEnd, 1), flags: ACK, options: TS_OPTION }),
  );
  return out;
}

/** Writes `packets` frames to `path` (Ethernet pcap, nanosecond timestamps). */
export function generateCapture(path: string, packets: number): { connections: number } {
  const w = createPcapWriter(path, { linktype: 1, nanos: true });
  const rand = rng(0x70a);
  const slots: { frames: Uint8Array[]; at: number }[] = [];
  let next = 0;
  let begun = 0;
  const start = () => ({ frames: connection(next++, rand).map(ether), at: 0 });
  for (let i = 0; i < SLOTS; i++) slots.push(start());
  let ns = 1_700_000_000n * 1_000_000_000n;
  for (let i = 0; i < packets; i++) {
    const k = Math.floor(rand() * SLOTS);
    let slot = slots[k] as { frames: Uint8Array[]; at: number };
    if (slot.at >= slot.frames.length) {
      slot = start();
      slots[k] = slot;
    }
    if (slot.at === 0) begun++;
    const data = slot.frames[slot.at++] as Uint8Array;
    ns += BigInt(STEP_NS);
    w.write({ data, tsSec: Number(ns / 1_000_000_000n), tsNsec: Number(ns % 1_000_000_000n) });
  }
  w.close();
  return { connections: begun };
}
