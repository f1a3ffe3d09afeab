// Connection tracking: follows each TCP handshake seen in a capture, finds the TOA the load
// balancer put in it (SYN, handshake-completing ACK, first data) and judges it. One report per
// connection, handed over when its handshake resolves; finished and idle connections are dropped.
import {
  ACK,
  addressToText,
  FIN,
  FORMATS,
  findOption,
  KIND,
  maskToFormats,
  type ParsedSegment,
  parseToa,
  RST,
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
  /** At most this many connections are tracked; the oldest goes first. */
  maxConnections?: number;
  /**
   * Seconds after the handshake-completing ACK at which a connection without data is reported
   * (server-speaks-first protocols): a TOA in later data would not be seen.
   */
  settleTimeout?: number;
}

export interface Tracker {
  /** Feed one TCP segment; true when it belongs to a tracked connection. */
  segment(seg: ParsedSegment, ts: number, frame: number): boolean;
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
  key: string;
  c: Connection | null;
  /** Whether the initiator's endpoint is the second in the key: tells the directions apart. */
  lbSecond: boolean;
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

// The connection key: both endpoints, lower one first, as UTF-16 code units (one per 16-bit
// word of address, one per port) so no number is ever printed; `swapped` says the source came
// second. Built once per packet, so it avoids allocating more than the string itself.
const words: number[] = new Array(18).fill(0);
let swapped = false;

function tupleKey(src: Uint8Array, sp: number, dst: Uint8Array, dp: number): string {
  let order = 0;
  for (let i = 0; i < src.length && order === 0; i++) order = (src[i] as number) - (dst[i] as number);
  if (order === 0) order = sp - dp;
  swapped = order > 0;
  return swapped ? endpoints(dst, dp, src, sp) : endpoints(src, sp, dst, dp);
}

function endpoints(a: Uint8Array, ap: number, b: Uint8Array, bp: number): string {
  if (a.length === 4)
    return String.fromCharCode(
      ((a[0] as number) << 8) | (a[1] as number),
      ((a[2] as number) << 8) | (a[3] as number),
      ap,
      ((b[0] as number) << 8) | (b[1] as number),
      ((b[2] as number) << 8) | (b[3] as number),
      bp,
    );
  for (let i = 0; i < 8; i++) {
    words[i] = ((a[2 * i] as number) << 8) | (a[2 * i + 1] as number);
    words[9 + i] = ((b[2 * i] as number) << 8) | (b[2 * i + 1] as number);
  }
  words[8] = ap;
  words[17] = bp;
  return String.fromCharCode(...words);
}

export function createTracker(opts: TrackOptions, onReport: (c: Connection) => void): Tracker {
  const conns = new Map<string, State>();
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
    const hasConflict = c.anomalies.some((a) => a.kind === 'conflict');
    const untrusted = c.anomalies.some((a) => a.kind === 'untrusted');
    c.validToa = c.toa !== null && !hasConflict && !untrusted;
    if (!c.toa) {
      if (established && opts.expect.has(c.backendPort))
        add(c, 'no-toa', null, 'no-toa', `handshake to watched port ${c.backendPort} carried no TOA`);
      // Why it is missing, when the segments show it: they had no room left for one.
      for (const a of s.noRoom ?? []) addOnce(c, a);
    } else {
      for (const a of s.noRoom ?? []) if (a.reason === 'mss' && c.toaIn.includes('data')) addOnce(c, a);
    }
    s.noRoom = null;
    onReport(c);
  }

  function drop(s: State): void {
    resolve(s);
    conns.delete(s.key);
  }

  function sweep(now: number): void {
    nextSweep = now + 1;
    for (const s of conns.values()) {
      if (now - s.lastTs > (s.closed ? closedFor : idle)) drop(s);
      else if (s.c && s.ackTs > 0 && now - s.ackTs >= settle) resolve(s);
    }
  }

  function open(seg: ParsedSegment, key: string, lbSecond: boolean, ts: number, frame: number): State {
    if (conns.size >= max) {
      const oldest = conns.values().next().value;
      if (oldest) drop(oldest);
    }
    const c: Connection = {
      id: nextId++,
      frame,
      ts,
      family: seg.family,
      lb: addressToText(seg.src),
      lbPort: seg.srcPort,
      backend: addressToText(seg.dst),
      backendPort: seg.dstPort,
      handshake: { syn: false, synAck: false, ack: false, data: false },
      outcome: 'incomplete',
      toa: null,
      toaIn: [],
      retransmits: 0,
      anomalies: [],
      packets: 0,
      validToa: false,
    };
    const s: State = {
      key,
      c,
      lbSecond,
      isn: seg.seq,
      mss: 0,
      finLb: false,
      finBackend: false,
      closed: false,
      lastTs: ts,
      ackTs: 0,
      noRoom: null,
    };
    conns.set(key, s);
    return s;
  }

  function inspectToa(s: State, c: Connection, seg: ParsedSegment, role: SegmentRole): void {
    const r = parseToa(seg.options, opts.formats);
    if (r.status === 'error') {
      const seen = c.anomalies.some(
        (a) => a.kind === 'malformed' && a.segment === role && a.reason === r.reason,
      );
      if (!seen) add(c, 'malformed', role, r.reason, `${r.reason} at option offset ${r.offset}`);
      return;
    }
    const optBytes = seg.options.length;
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
      if (role === 'data' && s.mss > 0 && seg.payload.length + optBytes + need > s.mss)
        keepNoRoom(
          s,
          anomaly(
            'no-room',
            role,
            'mss',
            `first data of ${seg.payload.length} bytes + ${optBytes} option bytes leaves no room for a ${need}-byte TOA under MSS ${s.mss}`,
          ),
        );
      return;
    }
    const t = r.toa;
    if (role === 'data' && s.mss > 0 && seg.payload.length + optBytes > s.mss)
      keepNoRoom(
        s,
        anomaly(
          'no-room',
          role,
          'mss',
          `first data of ${seg.payload.length} bytes + ${optBytes} option bytes with the TOA exceeds MSS ${s.mss}`,
        ),
      );
    if (!c.toa) {
      c.toa = t;
      c.toaIn.push(role);
      if (opts.trust && !opts.trust.some((cidr) => cidrContains(cidr, seg.src)))
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
    size: () => conns.size,
    untracked: () => untracked,
    flush() {
      for (const s of conns.values()) drop(s);
    },
    tick(now) {
      if (now >= nextSweep) sweep(now);
    },
    segment(seg, ts, frame) {
      if (ts >= nextSweep) sweep(ts);
      const key = tupleKey(seg.src, seg.srcPort, seg.dst, seg.dstPort);
      const srcSecond = swapped;
      let s = conns.get(key);
      const flags = seg.flags;
      const synOnly = (flags & (SYN | ACK)) === SYN;
      if (synOnly && s && seg.seq !== s.isn && srcSecond === s.lbSecond) {
        drop(s); // the 4-tuple is reused by a new connection
        s = undefined;
      }
      if (!s) {
        if (!synOnly || (opts.ports && !opts.ports.has(seg.dstPort))) {
          untracked++;
          return false;
        }
        s = open(seg, key, srcSecond, ts, frame);
      }
      s.lastTs = ts;
      const fromLb = srcSecond === s.lbSecond;
      if (flags & RST) s.closed = true;
      if (flags & FIN) {
        if (fromLb) s.finLb = true;
        else s.finBackend = true;
        if (s.finLb && s.finBackend) s.closed = true;
      }
      const c = s.c;
      if (!c) return true;
      c.packets++;

      if (!fromLb) {
        if ((flags & (SYN | ACK)) === (SYN | ACK)) {
          c.handshake.synAck = true;
          const mss = findOption(seg.options, KIND.MSS);
          if (mss && mss.length === 2) s.mss = ((mss[0] as number) << 8) | (mss[1] as number);
        }
        if (flags & RST) resolve(s);
        return true;
      }

      let role: SegmentRole | undefined;
      if (synOnly) {
        role = 'syn';
        c.handshake.syn = true;
      } else if (seg.payload.length > 0 && (!c.handshake.data || seg.seq === (s.isn + 1) >>> 0)) {
        role = 'data';
        c.handshake.data = true;
        if (flags & ACK) c.handshake.ack = c.handshake.ack || c.handshake.synAck;
      } else if (flags & ACK && !(flags & (SYN | RST | FIN)) && !c.handshake.ack && c.handshake.synAck) {
        role = 'ack';
        c.handshake.ack = true;
        s.ackTs = ts;
      }
      if (role) inspectToa(s, c, seg, role);
      if (role === 'data' || flags & (RST | FIN)) resolve(s);
      return true;
    },
  };
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
