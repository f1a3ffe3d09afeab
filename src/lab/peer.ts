// A minimal TCP client over a TUN device: the "load balancer" of the kernel tests. It opens a
// connection to a real kernel socket and puts any option block, byte for byte, in the SYN, the
// handshake-completing ACK or the first data segment. No window scaling, SACK or timestamps
// (unless the caller puts them in synOptions); in-order delivery only, which a local TUN gives.
import {
  ACK,
  addressToText,
  buildSegment,
  checkOptions,
  FIN,
  findOption,
  flagText,
  KIND,
  mssOption,
  type ParsedSegment,
  PSH,
  parseSegment,
  RST,
  type SegmentBuild,
  SYN,
  textToAddress,
} from '../wire/index.js';
import type { Tun } from './tun.js';

export interface Endpoint {
  address: string;
  port: number;
}

export interface ConnectOptions {
  tun: Tun;
  src: Endpoint;
  dst: Endpoint;
  /** The SYN's whole option block; default: MSS only. Inserted as given, padded by the caller. */
  synOptions?: Uint8Array;
  /** Options of the bare ACK completing the handshake. */
  ackOptions?: Uint8Array;
  /** Options of the first segment after the handshake carrying data or FIN (retransmissions too). */
  dataOptions?: Uint8Array;
  /** Send no bare ACK: the first data (or FIN) segment completes the handshake. */
  dropAck?: boolean;
  /** MSS advertised by the default SYN options (ignored when synOptions is given); default 1460. */
  mss?: number;
  /** Receive window advertised (unscaled); default 65535. */
  window?: number;
  /** Initial sequence number; default random. */
  isn?: number;
  /** Give up connecting after this long; default 5000 ms. */
  timeoutMs?: number;
  /** First retransmission timeout, doubled on each retry; default 300 ms. */
  rtoMs?: number;
  /** Retransmissions of a SYN or data before the connection fails; default 5. */
  retries?: number;
  /** How long close() lingers in TIME-WAIT re-acknowledging a repeated FIN; default 1000 ms. */
  timeWaitMs?: number;
  /** Loss injection: an outgoing segment for which this returns true is logged but not sent. */
  lose?: (segment: ParsedSegment) => boolean;
}

export type State =
  | 'syn-sent'
  | 'established'
  | 'fin-wait-1'
  | 'fin-wait-2'
  | 'closing'
  | 'time-wait'
  | 'close-wait'
  | 'last-ack'
  | 'closed';

export interface LogEntry {
  dir: 'in' | 'out';
  /** ms since the connection started. */
  at: number;
  packet: Uint8Array;
  segment: ParsedSegment;
  /** Dropped by the `lose` hook instead of sent. */
  lost?: boolean;
}

export interface Connection {
  readonly state: State;
  readonly src: Endpoint;
  readonly dst: Endpoint;
  readonly isn: number;
  /** The server's ISN, from its SYN-ACK. */
  readonly serverIsn: number;
  /** The MSS the server advertised (536 for IPv4 / 1220 for IPv6 when it sent none). */
  readonly serverMss: number;
  /** The SYN-ACK as received. */
  readonly synAck: ParsedSegment;
  /** Every segment sent and received on this 4-tuple, in order; raw segments included. */
  readonly log: LogEntry[];
  /** Queue bytes; resolves once the server has acknowledged them. `fin` puts FIN on the last segment. */
  send(bytes: Uint8Array | string, opts?: { fin?: boolean; timeoutMs?: number }): Promise<void>;
  /** The next chunk received in order; an empty array once the server has closed (FIN). */
  recv(timeoutMs?: number): Promise<Uint8Array>;
  /** Chunks until the server's FIN. */
  [Symbol.asyncIterator](): AsyncIterator<Uint8Array>;
  /** Send FIN, wait for the server's FIN and the ACK of ours. */
  close(timeoutMs?: number): Promise<void>;
  /** Send RST and forget the connection. */
  abort(): void;
  /** Send one segment on this 4-tuple, filled from the current sequence state; changes no state. */
  sendRaw(fields?: Partial<Omit<SegmentBuild, 'src' | 'dst' | 'srcPort' | 'dstPort'>>): void;
}

interface Inflight {
  seq: number;
  flags: number;
  options: Uint8Array;
  payload: Uint8Array;
}

interface Waiter {
  until: number;
  resolve: () => void;
  reject: (e: Error) => void;
}

// Sequence arithmetic modulo 2^32.
const add = (a: number, n: number) => (a + n) >>> 0;
const lt = (a: number, b: number) => ((a - b) | 0) < 0;
const le = (a: number, b: number) => ((a - b) | 0) <= 0;

const EMPTY = new Uint8Array(0);
const trace = process.env.TOA_LAB_TRACE === '1';

type Handler = (seg: ParsedSegment, packet: Uint8Array) => void;
const demuxes = new WeakMap<Tun, Map<string, Handler>>();

const key = (localAddr: Uint8Array, localPort: number, remoteAddr: Uint8Array, remotePort: number) =>
  `${Buffer.from(localAddr).toString('hex')}:${localPort}>${Buffer.from(remoteAddr).toString('hex')}:${remotePort}`;

function demux(tun: Tun): Map<string, Handler> {
  let table = demuxes.get(tun);
  if (table) return table;
  const t = new Map<string, Handler>();
  tun.onPacket((packet) => {
    const seg = parseSegment(packet);
    if (!seg?.checksumOk) return;
    t.get(key(seg.dst, seg.dstPort, seg.src, seg.srcPort))?.(seg, packet);
  });
  demuxes.set(tun, t);
  table = t;
  return table;
}

/** Open a connection; resolves once the SYN-ACK is in (and the ACK sent, unless dropAck). */
export function connect(o: ConnectOptions): Promise<Connection> {
  const src = textToAddress(o.src.address);
  const dst = textToAddress(o.dst.address);
  if (src.length !== dst.length) throw new Error('src and dst must both be IPv4 or both IPv6');
  const synOptions = o.synOptions ?? mssOption(o.mss ?? 1460);
  checkOptions(synOptions, 'synOptions');
  if (o.ackOptions) checkOptions(o.ackOptions, 'ackOptions');
  if (o.dataOptions) checkOptions(o.dataOptions, 'dataOptions');
  if (o.dropAck && o.ackOptions)
    throw new Error('ackOptions with dropAck: no bare ACK is sent to carry them; use dataOptions');
  const table = demux(o.tun);
  const k = key(src, o.src.port, dst, o.dst.port);
  if (table.has(k))
    throw new Error(`${o.src.address}:${o.src.port} -> ${o.dst.address}:${o.dst.port} is already open`);

  const window = o.window ?? 65535;
  const rto0 = o.rtoMs ?? 300;
  const retries = o.retries ?? 5;
  const started = Date.now();
  const where = `${o.src.address}:${o.src.port} -> ${o.dst.address}:${o.dst.port}`;

  let state: State = 'syn-sent';
  const isn = o.isn ?? (Math.random() * 2 ** 32) >>> 0;
  let sndUna = isn;
  let sndNxt = add(isn, 1);
  let sndWnd = 0;
  let rcvNxt = 0;
  let serverIsn = 0;
  let serverMss = 0;
  let synAck: ParsedSegment | undefined;
  let pending: Uint8Array = EMPTY;
  let finQueued = false;
  let finSent = false;
  let finAcked = false;
  let peerFin = false;
  let firstDataSent = false;
  let error: Error | undefined;
  const inflight: Inflight[] = [];
  const chunks: Uint8Array[] = [];
  const log: LogEntry[] = [];
  const sendWaiters: Waiter[] = [];
  let recvWaiter: { resolve: (b: Uint8Array) => void; reject: (e: Error) => void } | undefined;
  let closeWaiter: { resolve: () => void; reject: (e: Error) => void } | undefined;
  let connectWaiter: { resolve: () => void; reject: (e: Error) => void } | undefined;
  let rtxTimer: NodeJS.Timeout | undefined;
  let rto = rto0;
  let tries = 0;

  const emit = (fields: Omit<SegmentBuild, 'src' | 'dst' | 'srcPort' | 'dstPort'>) => {
    const packet = buildSegment({ src, dst, srcPort: o.src.port, dstPort: o.dst.port, window, ...fields });
    const segment = parseSegment(packet) as ParsedSegment;
    const lost = o.lose?.(segment) === true;
    log.push({ dir: 'out', at: Date.now() - started, packet, segment, ...(lost ? { lost } : {}) });
    if (trace) traceSegment(lost ? '> (lost)' : '>', where, segment);
    if (lost) return;
    try {
      o.tun.write(packet);
    } catch (e) {
      fail(new Error(`${where}: cannot write to ${o.tun.name}: ${(e as Error).message}`));
    }
  };

  const ackNow = (options?: Uint8Array) =>
    emit({ seq: sndNxt, ack: rcvNxt, flags: ACK, ...(options ? { options } : {}) });

  const stopTimer = () => {
    if (rtxTimer) clearTimeout(rtxTimer);
    rtxTimer = undefined;
  };

  const armTimer = () => {
    if (rtxTimer) return;
    rtxTimer = setTimeout(onTimeout, rto);
  };

  const onTimeout = () => {
    rtxTimer = undefined;
    if (tries >= retries) {
      const what = state === 'syn-sent' ? 'SYN' : 'data/FIN';
      fail(new Error(`${where}: ${what} not acknowledged after ${retries} retransmissions (state ${state})`));
      return;
    }
    tries++;
    rto *= 2;
    if (state === 'syn-sent') emit({ seq: isn, flags: SYN, options: synOptions });
    else retransmit();
    armTimer();
  };

  // Go-back-N: everything unacknowledged, each segment with the options it first carried.
  const retransmit = () => {
    for (const s of inflight)
      emit({ seq: s.seq, ack: rcvNxt, flags: s.flags, options: s.options, payload: s.payload });
  };

  // Segment pending bytes (and FIN) into what the window and the server's MSS allow.
  const transmit = () => {
    if (state === 'syn-sent' || state === 'closed' || error) return;
    for (;;) {
      const room = sndWnd - ((sndNxt - sndUna) >>> 0);
      const wantFin = finQueued && !finSent;
      if (pending.length === 0 && !wantFin) break;
      const options = firstDataSent ? EMPTY : (o.dataOptions ?? EMPTY);
      const max = Math.max(1, serverMss - options.length);
      const size = Math.min(pending.length, max, Math.max(room, 0));
      if (pending.length > 0 && size === 0) break; // window closed: the ACK that opens it calls us again
      const payload = pending.subarray(0, size);
      pending = pending.subarray(size);
      let flags = ACK | (size > 0 ? PSH : 0);
      if (wantFin && pending.length === 0) {
        flags |= FIN;
        finSent = true;
        state = state === 'close-wait' ? 'last-ack' : 'fin-wait-1';
      }
      const seg: Inflight = { seq: sndNxt, flags, options, payload: payload.slice() };
      firstDataSent = true;
      inflight.push(seg);
      sndNxt = add(sndNxt, size + (flags & FIN ? 1 : 0));
      emit({ seq: seg.seq, ack: rcvNxt, flags, options, payload: seg.payload });
      armTimer();
      if (flags & FIN) break;
    }
  };

  const fail = (e: Error) => {
    if (error || state === 'closed') return;
    error = e;
    finish();
    connectWaiter?.reject(e);
    recvWaiter?.reject(e);
    closeWaiter?.reject(e);
    for (const w of sendWaiters.splice(0)) w.reject(e);
    connectWaiter = recvWaiter = closeWaiter = undefined;
  };

  const finish = () => {
    state = 'closed';
    stopTimer();
    table.delete(k);
  };

  const onAck = (seg: ParsedSegment) => {
    sndWnd = seg.window;
    if (lt(sndUna, seg.ack) && le(seg.ack, sndNxt)) {
      sndUna = seg.ack;
      while (inflight.length > 0) {
        const s = inflight[0] as Inflight;
        const end = add(s.seq, s.payload.length + (s.flags & FIN ? 1 : 0));
        if (!le(end, sndUna)) break;
        inflight.shift();
      }
      stopTimer();
      tries = 0;
      rto = rto0;
      if (inflight.length > 0) armTimer();
      if (finSent && sndUna === sndNxt) finAcked = true;
      for (let i = sendWaiters.length - 1; i >= 0; i--) {
        const w = sendWaiters[i] as Waiter;
        if (le(w.until, sndUna)) {
          sendWaiters.splice(i, 1);
          w.resolve();
        }
      }
    }
    transmit();
  };

  const onData = (seg: ParsedSegment) => {
    const fin = (seg.flags & FIN) !== 0;
    if (seg.payload.length === 0 && !fin) return;
    // Trim what we already have; anything beyond rcvNxt is out of order (never on a local TUN): re-ACK.
    const skip = (rcvNxt - seg.seq) | 0;
    if (skip < 0 || skip > seg.payload.length + (fin ? 1 : 0) || peerFin) {
      ackNow();
      return;
    }
    const data = seg.payload.subarray(Math.min(skip, seg.payload.length));
    if (data.length > 0) {
      rcvNxt = add(rcvNxt, data.length);
      deliver(data);
    }
    if (fin && skip <= seg.payload.length) {
      rcvNxt = add(rcvNxt, 1);
      peerFin = true;
      deliver(EMPTY);
    }
    ackNow();
  };

  const deliver = (data: Uint8Array) => {
    if (recvWaiter) {
      const w = recvWaiter;
      recvWaiter = undefined;
      w.resolve(data);
    } else chunks.push(data);
  };

  const advance = () => {
    if (peerFin && state === 'established') state = 'close-wait';
    if (finAcked && state === 'fin-wait-1') state = peerFin ? 'time-wait' : 'fin-wait-2';
    if (peerFin && state === 'fin-wait-2') state = 'time-wait';
    if (finAcked && state === 'last-ack') {
      finish();
      closeWaiter?.resolve();
      closeWaiter = undefined;
    }
    if (state === 'time-wait' && closeWaiter) {
      closeWaiter.resolve();
      closeWaiter = undefined;
      stopTimer();
      // Linger to re-ACK a repeated FIN, without keeping the process alive.
      setTimeout(finish, o.timeWaitMs ?? 1000).unref();
    }
  };

  const onSegment: Handler = (seg, packet) => {
    log.push({ dir: 'in', at: Date.now() - started, packet, segment: seg });
    if (trace) traceSegment('<', where, seg);
    if (state === 'syn-sent') {
      if ((seg.flags & ACK) === 0 || seg.ack !== add(isn, 1)) return;
      if (seg.flags & RST) {
        fail(new Error(`${where}: connection refused (RST): is the server listening inside the namespace?`));
        return;
      }
      if ((seg.flags & SYN) === 0) return;
      synAck = seg;
      serverIsn = seg.seq;
      rcvNxt = add(seg.seq, 1);
      sndUna = seg.ack;
      sndWnd = seg.window;
      const mss = findOption(seg.options, KIND.MSS);
      serverMss =
        mss?.length === 2 ? ((mss[0] as number) << 8) | (mss[1] as number) : src.length === 4 ? 536 : 1220;
      state = 'established';
      stopTimer();
      tries = 0;
      rto = rto0;
      if (!o.dropAck) ackNow(o.ackOptions);
      connectWaiter?.resolve();
      connectWaiter = undefined;
      transmit();
      return;
    }
    if (seg.flags & RST) {
      if (le(rcvNxt, seg.seq) && lt(seg.seq, add(rcvNxt, window)))
        fail(new Error(`${where}: connection reset by the server (state ${state})`));
      return;
    }
    if (seg.flags & SYN) {
      // A repeated SYN-ACK: our handshake ACK was lost, or dropAck is waiting for data.
      if (!o.dropAck) ackNow(o.ackOptions);
      else retransmit();
      return;
    }
    if (seg.flags & ACK) onAck(seg);
    onData(seg);
    advance();
  };

  table.set(k, onSegment);

  const conn: Connection = {
    get state() {
      return state;
    },
    src: { ...o.src },
    dst: { ...o.dst },
    isn,
    get serverIsn() {
      return serverIsn;
    },
    get serverMss() {
      return serverMss;
    },
    get synAck() {
      if (!synAck) throw new Error('no SYN-ACK yet');
      return synAck;
    },
    log,
    send(bytes, opts = {}) {
      if (error) return Promise.reject(error);
      if (finQueued) return Promise.reject(new Error(`${where}: send after FIN`));
      const data = typeof bytes === 'string' ? new TextEncoder().encode(bytes) : bytes;
      const joined = new Uint8Array(pending.length + data.length);
      joined.set(pending);
      joined.set(data, pending.length);
      pending = joined;
      if (opts.fin) finQueued = true;
      // Every queued byte (and the FIN) is acknowledged once sndUna reaches this.
      const until = add(sndNxt, pending.length + (opts.fin ? 1 : 0));
      const waiter = { until } as Waiter;
      const done = withTimeout(
        new Promise<void>((resolve, reject) => {
          waiter.resolve = resolve;
          waiter.reject = reject;
          sendWaiters.push(waiter);
        }),
        opts.timeoutMs ?? 10000,
        `${where}: send not acknowledged`,
        () => {
          const i = sendWaiters.indexOf(waiter);
          if (i >= 0) sendWaiters.splice(i, 1);
        },
      );
      transmit();
      return done;
    },
    recv(timeoutMs = 5000) {
      const chunk = chunks.shift();
      if (chunk) return Promise.resolve(chunk);
      if (error) return Promise.reject(error);
      if (peerFin) return Promise.resolve(EMPTY);
      if (recvWaiter) return Promise.reject(new Error(`${where}: recv already pending`));
      const p = new Promise<Uint8Array>((resolve, reject) => {
        recvWaiter = { resolve, reject };
      });
      return withTimeout(p, timeoutMs, `${where}: nothing received`, () => {
        recvWaiter = undefined;
      });
    },
    async *[Symbol.asyncIterator]() {
      for (;;) {
        const chunk = await conn.recv();
        if (chunk.length === 0) return;
        yield chunk;
      }
    },
    close(timeoutMs = 5000) {
      if (error) return Promise.reject(error);
      if (state === 'closed' || state === 'time-wait') return Promise.resolve();
      if (state === 'syn-sent') {
        conn.abort();
        return Promise.resolve();
      }
      const p = new Promise<void>((resolve, reject) => {
        closeWaiter = { resolve, reject };
      });
      finQueued = true;
      transmit();
      advance();
      return withTimeout(p, timeoutMs, `${where}: close did not complete`, () => {
        closeWaiter = undefined;
        conn.abort();
      });
    },
    abort() {
      if (state === 'closed') return;
      emit({ seq: sndNxt, ack: rcvNxt, flags: RST | ACK });
      fail(new Error(`${where}: aborted`));
    },
    sendRaw(fields = {}) {
      emit({ seq: sndNxt, ack: rcvNxt, flags: ACK, ...fields });
    },
  };

  emit({ seq: isn, flags: SYN, options: synOptions });
  armTimer();
  const connected = new Promise<void>((resolve, reject) => {
    connectWaiter = { resolve, reject };
  });
  return withTimeout(connected, o.timeoutMs ?? 5000, `${where}: no SYN-ACK`, () => {
    connectWaiter = undefined;
    fail(new Error(`${where}: connect timed out`));
  }).then(() => conn);
}

/** Write one hand-built segment (see buildSegment) into the TUN, outside any connection. */
export function sendSegment(tun: Tun, segment: SegmentBuild): void {
  tun.write(buildSegment(segment));
}

/** Read exactly n bytes (fewer only if the server closes first). */
export async function recvBytes(conn: Connection, n: number, timeoutMs = 5000): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let got = 0;
  const deadline = Date.now() + timeoutMs;
  while (got < n) {
    const chunk = await conn.recv(Math.max(1, deadline - Date.now()));
    if (chunk.length === 0) break;
    parts.push(chunk);
    got += chunk.length;
  }
  return Buffer.concat(parts);
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string, onTimeout?: () => void): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      onTimeout?.();
      reject(new Error(`${what} within ${ms} ms`));
    }, ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

function traceSegment(arrow: string, where: string, s: ParsedSegment): void {
  const opts = s.options.length ? ` opts=${Buffer.from(s.options).toString('hex')}` : '';
  process.stderr.write(
    `${where} ${arrow} ${flagText(s.flags)} seq=${s.seq} ack=${s.ack} win=${s.window} len=${s.payload.length}${opts} ${addressToText(s.src)}\n`,
  );
}
