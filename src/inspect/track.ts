// Connection tracking: follows each TCP handshake seen in a capture, finds the TOA the load
// balancer put in it (SYN, handshake-completing ACK, first data) and judges it. One report per
// connection, handed over when its handshake resolves; finished and idle connections are dropped.
import {
  ACK,
  addressTextAt,
  FIN,
  FORMATS,
  findOptionIn,
  KIND,
  maskToFormats,
  parseToaIn,
  RST,
  type SegmentView,
  SYN,
  type Toa,
  textToAddress,
} from '../wire/index.js';

/** The segments of the initiator (the LB, seen from the backend) that may carry a TOA. */
export type SegmentRole = 'syn' | 'ack' | 'data';
export type Outcome = 'established' | 'reset' | 'incomplete';
export type AnomalyKind = 'no-toa' | 'malformed' | 'untrusted' | 'conflict' | 'no-room' | 'nat64';

export interface Anomaly {
  kind: AnomalyKind;
  /** nat64 is 'info'; every other kind is an 'error'. */
  severity: 'error' | 'info';
  segment: SegmentRole | null;
  /** Machine-readable: the decoder's reason for malformed, 'space' or 'mss' for no-room, else the kind. */
  reason: string;
  detail: string;
}

export interface Connection {
  id: number;
  /** 1-based number of the connection's first SYN in the capture (Wireshark's frame number). */
  frame: number;
  ts: number;
  family: 4 | 6;
  /** The initiator: the load balancer when the capture is at the backend. */
  lb: string;
  lbPort: number;
  backend: string;
  backendPort: number;
  handshake: { syn: boolean; synAck: boolean; ack: boolean; data: boolean };
  outcome: Outcome;
  toa: Toa | null;
  /** Segments that carried the TOA, in the order seen. */
  toaIn: SegmentRole[];
  /** The same TOA again in a segment of a role already seen (a retransmission). */
  retransmits: number;
  anomalies: Anomaly[];
  /** Packets of the connection up to its report. */
  packets: number;
  /** Whether its TOA counts as valid: decoded, no conflict, from a trusted source. */
  validToa: boolean;
}

export interface Cidr {
  text: string;
  bytes: Uint8Array;
  prefix: number;
}

export interface TrackOptions {
  /** Format mask for parseToa. */
  formats: number;
  /** Sources allowed to send TOA; null: every source is trusted. */
  trust: readonly Cidr[] | null;
  /** Server ports whose handshakes must carry a TOA (no-toa otherwise). */
  expect: ReadonlySet<number>;
  /** Only connections to these server ports are tracked; null: all. */
  ports: ReadonlySet<number> | null;
  /** Seconds of capture time after which a silent connection is dropped. */
  idleTimeout?: number;
  /** Seconds a closed (RST, FIN both ways) connection is kept for its last packets. */
  closedTimeout?: number;
  /** At most this many connections are tracked; closed ones go first, then the oldest. */
  maxConnections?: number;
  /**
   * Seconds after the handshake-completing ACK at which a connection without data is reported
   * (server-speaks-first protocols): a TOA in later data would not be seen.
   */
  settleTimeout?: number;
}

/**
 * When a segment was captured: seconds since the epoch, and its 0-based number in the capture.
 * An object (a capture record is one) so that the time is never boxed per packet.
 */
export interface PacketTime {
  ts: number;
  index: number;
}

export interface Tracker {
  /**
   * Feed one TCP segment, read in place by viewSegment from buf (which need not outlive the
   * call); true when it belongs to a tracked connection.
   */
  segment(buf: Uint8Array, seg: SegmentView, at: PacketTime): boolean;
  /** Report every connection still open (end of the capture). */
  flush(): void;
  /** Capture time moved on without packets (live): report and expire what is due. */
  tick(now: number): void;
  size(): number;
  /** TCP segments of no tracked connection: its handshake was not seen, or its port not asked for. */
  untracked(): number;
}

// What is kept per connection. After its report only the few fields that still matter stay
// (c and noRoom are released), so a long capture holds little per open connection.
interface State {
  /** A hash of both endpoints, the same in either direction. */
  hash: number;
  /** The next connection in the same bucket. */
  next: State | null;
  /**
   * Neighbours in its list: open connections in the order they began, closed ones in the order
   * of their last packet (so a sweep stops at the first closed one not yet due).
   */
  older: State | null;
  newer: State | null;
  /**
   * The endpoints, each packet is matched against them in place. IPv4: the addresses as 16-bit
   * halves (small integers, in the object itself); IPv6: addrs holds the LB's then the
   * backend's address as 16-bit words (UTF-16 code units: one small string made at the SYN),
   * and is '' for IPv4.
   */
  lbHi: number;
  lbLo: number;
  backendHi: number;
  backendLo: number;
  addrs: string;
  lbPort: number;
  backendPort: number;
  c: Connection | null;
  isn: number;
  /** The MSS the backend announced in its SYN-ACK; 0 when none was seen. */
  mss: number;
  finLb: boolean;
  finBackend: boolean;
  closed: boolean;
  lastTs: number;
  /** Time of the handshake-completing ACK, 0 before. */
  ackTs: number;
  /** no-room findings, kept until resolution decides whether they explain a missing TOA. */
  noRoom: Anomaly[] | null;
}

export function parseCidr(text: string): Cidr {
  const [addr = '', len, extra] = text.split('/');
  if (extra !== undefined) throw new Error(`--trust ${text}: expected ADDRESS/PREFIX`);
  const bytes = textToAddress(addr);
  const max = bytes.length * 8;
  const prefix = len === undefined ? max : Number(len);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max || (len !== undefined && !/^\d+$/.test(len)))
    throw new Error(`--trust ${text}: prefix must be 0..${max}`);
  return { text, bytes, prefix };
}

export function cidrContains(c: Cidr, addr: Uint8Array): boolean {
  if (c.bytes.length !== addr.length) return false;
  let bits = c.prefix;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if (((c.bytes[i] as number) & mask) !== ((addr[i] as number) & mask)) return false;
  }
  return true;
}

/** The padded size of the smallest TOA the accepted formats allow (host ids: 8 bytes). */
export function smallestToa(mask: number): number {
  let min = 0;
  for (const name of maskToFormats(mask)) {
    const f = FORMATS.find((x) => x.name === name);
    const len = f?.len ?? 8;
    if (min === 0 || len < min) min = len;
  }
  return (min + 3) & ~3;
}

// The connection table: buckets by a hash of the two endpoints (symmetric, so both directions
// find the same entry), chained; a packet is matched by comparing its bytes with the stored
// endpoints, so no key is built and nothing is allocated per packet.
function endpointHash(buf: Uint8Array, addr: number, len: number, port: number): number {
  let h = Math.imul(port ^ 0x5bd1e995, 0x9e3779b1);
  for (let i = addr; i < addr + len; i += 4) {
    const w = ((buf[i] as number) << 24) | ((buf[i + 1] as number) << 16) | ((buf[i + 2] as number) << 8);
    h = Math.imul(h ^ (w | (buf[i + 3] as number)), 0x85ebca6b);
    h ^= h >>> 15;
  }
  return h;
}

// 30 bits: a small integer to V8, so a key is never a boxed number.
function tupleHash(buf: Uint8Array, v: SegmentView): number {
  const n = v.addrLen;
  return (endpointHash(buf, v.addr, n, v.srcPort) + endpointHash(buf, v.addr + n, n, v.dstPort)) & 0x3fffffff;
}

const u16 = (b: Uint8Array, at: number) => ((b[at] as number) << 8) | (b[at + 1] as number);

// Address text by address: a backend sees few LB addresses (FullNAT's local pool) and is
// itself one or two, so text is made once per address, not once per connection. A slot holds
// one address (4 or 16 bytes, as 16-bit words) and its text; a collision just replaces it.
const TEXT_BITS = 10;
const textWords = new Uint16Array(8 << TEXT_BITS);
const textLen = new Uint8Array(1 << TEXT_BITS); // 0: an empty slot
const textOf: string[] = new Array<string>(1 << TEXT_BITS).fill('');

function addressText(buf: Uint8Array, at: number, len: number): string {
  let h = 0;
  for (let i = 0; i < len; i += 2) h = Math.imul(h ^ u16(buf, at + i), 0x9e3779b1);
  const slot = h >>> (32 - TEXT_BITS);
  const key = slot * 8;
  if (textLen[slot] === len && sameWords(buf, at, len, key)) return textOf[slot] as string;
  const text = addressTextAt(buf, at, len);
  for (let i = 0; i < len; i += 2) textWords[key + i / 2] = u16(buf, at + i);
  textLen[slot] = len;
  textOf[slot] = text;
  return text;
}

function sameWords(buf: Uint8Array, at: number, len: number, key: number): boolean {
  for (let i = 0; i < len; i += 2) if (textWords[key + i / 2] !== u16(buf, at + i)) return false;
  return true;
}

// An IPv6 connection's two addresses as one string of 16-bit words.
function addrWords(buf: Uint8Array, v: SegmentView): string {
  const words: number[] = [];
  for (let i = v.addr; i < v.addr + 32; i += 2) words.push(u16(buf, i));
  return String.fromCharCode(...words);
}

// Whether the address at `at` of buf equals the words of addrs from `word` on.
function sameAddr(buf: Uint8Array, at: number, addrs: string, word: number, len: number): boolean {
  for (let i = 0; i < len; i += 2) if (addrs.charCodeAt(word++) !== u16(buf, at + i)) return false;
  return true;
}

const FROM_LB = 1;
const FROM_BACKEND = 2;

/** Which side of connection s sent the segment; 0 when it is not s's. */
function sideOf(s: State, buf: Uint8Array, v: SegmentView): number {
  const n = v.addrLen;
  if (n === 4) {
    if (s.addrs !== '') return 0;
    const at = v.addr;
    const srcHi = u16(buf, at);
    const srcLo = u16(buf, at + 2);
    const dstHi = u16(buf, at + 4);
    const dstLo = u16(buf, at + 6);
    if (v.srcPort === s.lbPort && v.dstPort === s.backendPort)
      if (srcHi === s.lbHi && srcLo === s.lbLo && dstHi === s.backendHi && dstLo === s.backendLo)
        return FROM_LB;
    if (v.srcPort === s.backendPort && v.dstPort === s.lbPort)
      if (srcHi === s.backendHi && srcLo === s.backendLo && dstHi === s.lbHi && dstLo === s.lbLo)
        return FROM_BACKEND;
    return 0;
  }
  const words = n >> 1;
  if (s.addrs.length !== 2 * words) return 0;
  if (
    v.srcPort === s.lbPort &&
    v.dstPort === s.backendPort &&
    sameAddr(buf, v.addr, s.addrs, 0, n) &&
    sameAddr(buf, v.addr + n, s.addrs, words, n)
  )
    return FROM_LB;
  if (
    v.srcPort === s.backendPort &&
    v.dstPort === s.lbPort &&
    sameAddr(buf, v.addr, s.addrs, words, n) &&
    sameAddr(buf, v.addr + n, s.addrs, 0, n)
  )
    return FROM_BACKEND;
  return 0;
}

interface List {
  head: State | null;
  tail: State | null;
}

function link(list: List, s: State): void {
  s.older = list.tail;
  s.newer = null;
  if (list.tail) list.tail.newer = s;
  else list.head = s;
  list.tail = s;
}

function unlink(list: List, s: State): void {
  if (s.older) s.older.newer = s.newer;
  else list.head = s.newer;
  if (s.newer) s.newer.older = s.older;
  else list.tail = s.older;
  s.older = s.newer = null;
}

/** Dropped states kept for reuse. */
const FREE_STATES = 4096;

function blankState(): State {
  return {
    hash: 0,
    next: null,
    older: null,
    newer: null,
    lbHi: 0,
    lbLo: 0,
    backendHi: 0,
    backendLo: 0,
    addrs: '',
    lbPort: 0,
    backendPort: 0,
    c: null,
    // NaN, not 0: these hold doubles (times; sequence numbers above 2^30), and a field that starts
    // as a small integer changes the object's hidden class on its first double, which throws the
    // optimized tracker back to slow code once per shape.
    isn: Number.NaN,
    mss: 0,
    finLb: false,
    finBackend: false,
    closed: false,
    lastTs: Number.NaN,
    ackTs: Number.NaN,
    noRoom: null,
  };
}

export function createTracker(opts: TrackOptions, onReport: (c: Connection) => void): Tracker {
  let table: (State | null)[] = new Array<State | null>(4096).fill(null);
  const opened: List = { head: null, tail: null };
  const ended: List = { head: null, tail: null };
  let count = 0;
  const free: State[] = [];
  const idle = opts.idleTimeout ?? 300;
  const closedFor = opts.closedTimeout ?? 5;
  const max = opts.maxConnections ?? 500_000;
  const settle = opts.settleTimeout ?? 3;
  const need = smallestToa(opts.formats);
  let nextId = 1;
  let nextSweep = 0;
  let untracked = 0;

  function resolve(s: State): void {
    const c = s.c;
    if (!c) return;
    s.c = null;
    const h = c.handshake;
    const established = h.synAck && (h.ack || h.data);
    c.outcome = established ? 'established' : s.closed ? 'reset' : 'incomplete';
    c.validToa = c.toa !== null && !hasAnomaly(c, 'conflict') && !hasAnomaly(c, 'untrusted');
    if (!c.toa && established && opts.expect.has(c.backendPort))
      add(c, 'no-toa', null, 'no-toa', `handshake to watched port ${c.backendPort} carried no TOA`);
    if (s.noRoom) {
      // Why a TOA is missing, when the segments show it: they had no room left for one.
      for (const a of s.noRoom) if (!c.toa || (a.reason === 'mss' && c.toaIn.includes('data'))) addOnce(c, a);
      s.noRoom = null;
    }
    onReport(c);
  }

  // Which side sent the segment find last matched: returned alongside, not recomputed.
  let foundSide = 0;

  function find(buf: Uint8Array, v: SegmentView, hash: number): State | null {
    for (let s = table[hash & (table.length - 1)] ?? null; s; s = s.next) {
      if (s.hash !== hash) continue;
      foundSide = sideOf(s, buf, v);
      if (foundSide !== 0) return s;
    }
    return null;
  }

  function insert(s: State): void {
    const b = s.hash & (table.length - 1);
    s.next = table[b] ?? null;
    table[b] = s;
  }

  function drop(s: State): void {
    resolve(s);
    const b = s.hash & (table.length - 1);
    if (table[b] === s) table[b] = s.next;
    else {
      let p = table[b] ?? null;
      while (p && p.next !== s) p = p.next;
      if (p) p.next = s.next;
    }
    unlink(s.closed ? ended : opened, s);
    s.next = null;
    count--;
    if (free.length < FREE_STATES) free.push(s);
  }

  // Twice the buckets once they hold more than one connection each on average.
  function grow(): void {
    table = new Array<State | null>(table.length * 2).fill(null);
    for (const list of [opened, ended]) for (let s = list.head; s; s = s.newer) insert(s);
  }

  function sweep(now: number): void {
    nextSweep = now + 1;
    while (ended.head && now - ended.head.lastTs > closedFor) drop(ended.head);
    for (let s = opened.head; s; ) {
      const next: State | null = s.newer;
      if (now - s.lastTs > idle) drop(s);
      else if (s.c && s.ackTs > 0 && now - s.ackTs >= settle) resolve(s);
      s = next;
    }
  }

  function open(buf: Uint8Array, v: SegmentView, hash: number, when: PacketTime): State {
    const evict = ended.head ?? opened.head;
    if (count >= max && evict) drop(evict);
    const n = v.addrLen;
    const c: Connection = {
      id: nextId++,
      frame: when.index + 1,
      ts: when.ts,
      family: v.family,
      lb: addressText(buf, v.addr, n),
      lbPort: v.srcPort,
      backend: addressText(buf, v.addr + n, n),
      backendPort: v.dstPort,
      handshake: { syn: false, synAck: false, ack: false, data: false },
      outcome: 'incomplete',
      toa: null,
      toaIn: [],
      retransmits: 0,
      anomalies: [],
      packets: 0,
      validToa: false,
    };
    // States are reused: long-lived objects made once cost the collector nothing per connection.
    const s = free.pop() ?? blankState();
    s.hash = hash;
    const at = v.addr;
    s.lbHi = u16(buf, at);
    s.lbLo = u16(buf, at + 2);
    s.backendHi = n === 4 ? u16(buf, at + 4) : 0;
    s.backendLo = n === 4 ? u16(buf, at + 6) : 0;
    s.addrs = n === 4 ? '' : addrWords(buf, v);
    s.lbPort = v.srcPort;
    s.backendPort = v.dstPort;
    s.c = c;
    s.isn = v.seq;
    s.mss = 0;
    s.finLb = s.finBackend = s.closed = false;
    s.lastTs = when.ts;
    s.ackTs = 0;
    s.noRoom = null;
    link(opened, s);
    if (++count > table.length) grow();
    else insert(s);
    return s;
  }

  function inspectToa(s: State, c: Connection, buf: Uint8Array, v: SegmentView, role: SegmentRole): void {
    const r = parseToaIn(buf, v.options, v.data, opts.formats);
    if (r.status === 'error') {
      const seen = c.anomalies.some(
        (a) => a.kind === 'malformed' && a.segment === role && a.reason === r.reason,
      );
      if (!seen) add(c, 'malformed', role, r.reason, `${r.reason} at option offset ${r.offset}`);
      return;
    }
    const optBytes = v.data - v.options;
    const payload = v.end - v.data;
    if (r.status === 'none') {
      if (optBytes + need > 40)
        keepNoRoom(
          s,
          anomaly(
            'no-room',
            role,
            'space',
            `${role} has ${optBytes} option bytes: no room for a ${need}-byte TOA`,
          ),
        );
      if (role === 'data' && s.mss > 0 && payload + optBytes + need > s.mss)
        keepNoRoom(
          s,
          anomaly(
            'no-room',
            role,
            'mss',
            `first data of ${payload} bytes + ${optBytes} option bytes leaves no room for a ${need}-byte TOA under MSS ${s.mss}`,
          ),
        );
      return;
    }
    const t = r.toa;
    if (role === 'data' && s.mss > 0 && payload + optBytes > s.mss)
      keepNoRoom(
        s,
        anomaly(
          'no-room',
          role,
          'mss',
          `first data of ${payload} bytes + ${optBytes} option bytes with the TOA exceeds MSS ${s.mss}`,
        ),
      );
    if (!c.toa) {
      c.toa = t;
      c.toaIn.push(role);
      // Only the LB's segments have a role: the source is its address.
      const lb = opts.trust && buf.subarray(v.addr, v.addr + v.addrLen);
      if (opts.trust && lb && !opts.trust.some((cidr) => cidrContains(cidr, lb)))
        add(
          c,
          'untrusted',
          role,
          'untrusted',
          `TOA from ${c.lb}, outside --trust ${opts.trust.map((x) => x.text).join(',')}`,
        );
      if (c.family === 4 && t.family === 6)
        add(c, 'nat64', role, 'nat64', `IPv6 client ${t.address} in an IPv4 connection (NAT64)`, 'info');
      return;
    }
    if (sameToa(c.toa, t)) {
      if (c.toaIn.includes(role)) c.retransmits++;
      else c.toaIn.push(role);
      return;
    }
    const clash = c.anomalies.some((a) => a.kind === 'conflict' && a.detail.endsWith(clientText(t)));
    if (!clash)
      add(
        c,
        'conflict',
        role,
        'conflict',
        `${c.toaIn[0]} said ${clientText(c.toa)}, ${role} says ${clientText(t)}`,
      );
  }

  return {
    size: () => count,
    untracked: () => untracked,
    flush() {
      while (opened.head) drop(opened.head);
      while (ended.head) drop(ended.head);
    },
    tick(now) {
      if (now >= nextSweep) sweep(now);
    },
    segment(buf, v, at) {
      if (at.ts >= nextSweep) sweep(at.ts);
      const hash = tupleHash(buf, v);
      let s = find(buf, v, hash);
      const flags = v.flags;
      const synOnly = (flags & (SYN | ACK)) === SYN;
      const fromLb = s !== null && foundSide === FROM_LB;
      if (synOnly && s && fromLb && v.seq !== s.isn) {
        drop(s); // the 4-tuple is reused by a new connection
        s = null;
      }
      if (!s) {
        if (!synOnly || (opts.ports && !opts.ports.has(v.dstPort))) {
          untracked++;
          return false;
        }
        s = open(buf, v, hash, at);
        return packet(s, buf, v, at, true);
      }
      return packet(s, buf, v, at, fromLb);
    },
  };

  function packet(s: State, buf: Uint8Array, v: SegmentView, at: PacketTime, fromLb: boolean): boolean {
    const ts = at.ts;
    const flags = v.flags;
    s.lastTs = ts;
    if (s.closed) {
      // Keep the closed list in the order of last packets.
      if (ended.tail !== s) {
        unlink(ended, s);
        link(ended, s);
      }
    } else {
      if (flags & FIN) {
        if (fromLb) s.finLb = true;
        else s.finBackend = true;
      }
      if (flags & RST || (s.finLb && s.finBackend)) {
        unlink(opened, s);
        s.closed = true;
        link(ended, s);
      }
    }
    const c = s.c;
    if (!c) return true;
    c.packets++;

    if (!fromLb) {
      if ((flags & (SYN | ACK)) === (SYN | ACK)) {
        c.handshake.synAck = true;
        const at = findOptionIn(buf, v.options, v.data, KIND.MSS);
        if (at >= 0 && buf[at + 1] === 4) s.mss = ((buf[at + 2] as number) << 8) | (buf[at + 3] as number);
      }
      if (flags & RST) resolve(s);
      return true;
    }

    const synOnly = (flags & (SYN | ACK)) === SYN;
    let role: SegmentRole | undefined;
    if (synOnly) {
      role = 'syn';
      c.handshake.syn = true;
    } else if (v.end > v.data && (!c.handshake.data || v.seq === (s.isn + 1) >>> 0)) {
      role = 'data';
      c.handshake.data = true;
      if (flags & ACK) c.handshake.ack = c.handshake.ack || c.handshake.synAck;
    } else if (flags & ACK && !(flags & (SYN | RST | FIN)) && !c.handshake.ack && c.handshake.synAck) {
      role = 'ack';
      c.handshake.ack = true;
      s.ackTs = ts;
    }
    if (role) inspectToa(s, c, buf, v, role);
    if (role === 'data' || flags & (RST | FIN)) resolve(s);
    return true;
  }
}

function keepNoRoom(s: State, a: Anomaly): void {
  if (s.noRoom) s.noRoom.push(a);
  else s.noRoom = [a];
}

function sameToa(a: Toa, b: Toa): boolean {
  return (
    a.format === b.format &&
    a.address === b.address &&
    a.port === b.port &&
    a.vip?.address === b.vip?.address &&
    a.vip?.port === b.vip?.port
  );
}

export function clientText(t: Toa): string {
  const host = t.family === 6 ? `[${t.address}]` : t.address;
  return t.port === null ? host : `${host}:${t.port}`;
}

function anomaly(
  kind: AnomalyKind,
  segment: SegmentRole | null,
  reason: string,
  detail: string,
  severity: 'error' | 'info' = 'error',
): Anomaly {
  return { kind, severity, segment, reason, detail };
}

// A plain loop: resolve asks this for every connection, and a callback per call was garbage.
function hasAnomaly(c: Connection, kind: AnomalyKind): boolean {
  for (const a of c.anomalies) if (a.kind === kind) return true;
  return false;
}

function addOnce(c: Connection, a: Anomaly): void {
  if (!c.anomalies.some((x) => x.kind === a.kind && x.segment === a.segment && x.reason === a.reason))
    c.anomalies.push(a);
}

function add(
  c: Connection,
  kind: AnomalyKind,
  segment: SegmentRole | null,
  reason: string,
  detail: string,
  severity: 'error' | 'info' = 'error',
): void {
  c.anomalies.push(anomaly(kind, segment, reason, detail, severity));
}
