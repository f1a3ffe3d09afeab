// The lab FullNAT load balancer's core: packets in, packets out, no devices. A client's SYN to a
// VIP picks a backend (round-robin within the client's address family) and a local port; every
// segment is then rewritten client ip:port -> VIP:port into local:port -> backend:port and back.
// The TOA (the client's ip:port) rides in the segments that complete the handshake: those with
// seq = client ISN + 1 and ack = backend ISN + 1, i.e. the third ACK, its repeats, and the first
// data segment when the backend has sent nothing yet (the ACK lost, or a client that never sends
// a bare one). The backend's SYN-ACK MSS is lowered by the TOA's size, so a data segment with the
// option still fits the path. When the option does not fit a segment's 40 option bytes, a bare
// ACK carrying only the TOA goes first and the segment follows unchanged.
import {
  addressToText,
  encodeToa,
  FIN,
  type FormatName,
  formatSpec,
  newSegmentView,
  RST,
  SYN,
  type ToaInput,
  textToAddress,
  viewSegment,
} from '../wire/index.js';
import {
  backendKey,
  clientKey,
  DEFAULT_TIMEOUTS,
  type NatEntry,
  natTable,
  type PortPool,
  portPool,
  type Timeouts,
} from './lb-nat.js';
import { bareAck, checksumsOk, optionsFit, padOption, type Rewrite, rewrite } from './lb-rewrite.js';
import type { Endpoint } from './peer.js';

const ACK = 0x10;

export interface LbConfig {
  /** Addresses and ports clients connect to. */
  vips: Endpoint[];
  backends: Endpoint[];
  /** The LB's own source address towards the backends, one per family in use. */
  locals: string[];
  /** TOA format for IPv4 clients (default 254/8) and IPv6 clients (default 254/20). */
  format4?: FormatName;
  format6?: FormatName;
  timeouts?: Partial<Timeouts>;
  /** Local source ports; default 1024-65535. */
  ports?: [number, number];
  onEvent?: (e: LbEvent) => void;
}

export type LbEvent =
  | { kind: 'open'; entry: NatEntry }
  | { kind: 'close'; entry: NatEntry; reason: 'fin' | 'rst' | 'expired' | 'replaced' };

export type Out =
  | { to: 'client'; packet: Uint8Array }
  | { to: 'backend'; backend: number; packet: Uint8Array };

export const DROPS = [
  'not-tcp',
  'checksum',
  'not-vip',
  'no-connection',
  'no-backend',
  'no-port',
  'unsupported',
] as const;
export type Drop = (typeof DROPS)[number];

export interface LbStats {
  fromClient: number;
  fromBackend: number;
  opened: number;
  closed: number;
  /** Segments that left with the TOA inserted, and bare ACKs sent to carry one. */
  toaInserted: number;
  toaBareAck: number;
  mssLowered: number;
  dropped: Record<Drop, number>;
}

export interface Lb {
  /** A packet the clients sent towards a VIP. */
  fromClient(packet: Uint8Array, now?: number): Out[];
  /** A packet a backend sent towards the local address. */
  fromBackend(packet: Uint8Array, now?: number): Out[];
  /** Drop entries idle past their state's timeout; returns how many went. */
  expire(now?: number): number;
  entries(): NatEntry[];
  readonly stats: LbStats;
}

interface Family {
  local: Uint8Array;
  pool: PortPool;
  format: FormatName;
  backends: number[];
  turn: number;
}

interface Vip {
  address: Uint8Array;
  port: number;
}

export function createLb(config: LbConfig): Lb {
  const timeouts = { ...DEFAULT_TIMEOUTS, ...config.timeouts };
  const vips = config.vips.map((v) => ({ address: parseAddress(v.address, 'VIP'), port: checkPort(v.port) }));
  const backends = config.backends.map((b) => ({
    address: parseAddress(b.address, 'backend'),
    port: checkPort(b.port),
  }));
  const families = familiesOf(config, backends);
  if (vips.length === 0) throw new Error('no VIP: give one with --vip ADDR:PORT');
  for (const v of vips) {
    if (!families.get(v.address.length === 4 ? 4 : 6))
      throw new Error(`VIP ${addressToText(v.address)} has no backend of its family: add one with --backend`);
  }

  const stats: LbStats = {
    fromClient: 0,
    fromBackend: 0,
    opened: 0,
    closed: 0,
    toaInserted: 0,
    toaBareAck: 0,
    mssLowered: 0,
    dropped: Object.fromEntries(DROPS.map((d) => [d, 0])) as Record<Drop, number>,
  };
  const table = natTable(timeouts, (e) => families.get(e.family)?.pool.give(e.localPort));
  const emit = config.onEvent ?? (() => {});
  const v = newSegmentView();
  const close = (e: NatEntry, reason: 'fin' | 'rst' | 'expired' | 'replaced') => {
    table.remove(e);
    stats.closed++;
    emit({ kind: 'close', entry: e, reason });
  };
  const drop = (why: Drop): Out[] => {
    stats.dropped[why]++;
    return [];
  };

  // The packet in pkt, read into v, is TCP with good checksums and no IPv6 extension headers.
  const accept = (pkt: Uint8Array): Drop | undefined => {
    if (!viewSegment(pkt, 0, v)) return 'not-tcp';
    if (v.family === 6 && v.payload !== 40) return 'unsupported';
    if (!checksumsOk(pkt, v)) return 'checksum';
    return undefined;
  };

  const open = (pkt: Uint8Array, vip: Vip, now: number): NatEntry | Drop => {
    const family = v.family;
    const f = families.get(family);
    if (!f || f.backends.length === 0) return 'no-backend';
    const localPort = f.pool.take();
    if (localPort === undefined) return 'no-port';
    const index = f.backends[f.turn++ % f.backends.length] as number;
    const backend = backends[index] as Vip;
    const client = pkt.slice(v.addr, v.addr + v.addrLen);
    const e: NatEntry = {
      family,
      client,
      clientPort: v.srcPort,
      vip: vip.address,
      vport: vip.port,
      backend: index,
      backendAddr: backend.address,
      backendPort: backend.port,
      local: f.local,
      localPort,
      state: 'syn',
      clientIsn: v.seq,
      serverIsn: undefined,
      finClient: false,
      finBackend: false,
      ended: undefined,
      toa: toaFor(f.format, client, v.srcPort, vip),
      toaSent: 0,
      created: now,
      lastSeen: now,
      clientKey: clientKey(client, v.srcPort, vip.address, vip.port),
      backendKey: backendKey(backend.address, backend.port, f.local, localPort),
    };
    table.add(e);
    stats.opened++;
    emit({ kind: 'open', entry: e });
    return e;
  };

  const track = (e: NatEntry, fromClient: boolean, now: number) => {
    e.lastSeen = now;
    if (v.flags & RST) {
      e.state = 'closed';
      e.ended ??= 'rst';
      return;
    }
    if (v.flags & FIN) {
      if (fromClient) e.finClient = true;
      else e.finBackend = true;
    }
    if (!fromClient && v.flags & SYN && v.flags & ACK && (e.state === 'syn' || e.state === 'syn-ack')) {
      e.serverIsn = v.seq;
      e.state = 'syn-ack';
    }
    if (fromClient && e.state === 'syn-ack' && v.flags & ACK && v.ack === add(e.serverIsn ?? 0, 1))
      e.state = 'established';
    if (e.finClient && e.finBackend && e.state !== 'closed') {
      e.state = 'closed';
      e.ended = 'fin';
    } else if ((e.finClient || e.finBackend) && e.state === 'established') e.state = 'closing';
  };

  const carriesToa = (e: NatEntry) =>
    (v.flags & (SYN | RST)) === 0 &&
    (v.flags & ACK) !== 0 &&
    e.serverIsn !== undefined &&
    v.seq === add(e.clientIsn, 1) &&
    v.ack === add(e.serverIsn, 1);

  return {
    stats,
    entries: () => [...table.byClient.values()],
    fromClient(pkt, now = Date.now()) {
      stats.fromClient++;
      const bad = accept(pkt);
      if (bad) return drop(bad);
      const vip = vips.find((x) => x.port === v.dstPort && sameAt(pkt, v.addr + v.addrLen, x.address));
      if (!vip) return drop('not-vip');
      let e = table.byClient.get(
        clientKey(pkt.subarray(v.addr, v.addr + v.addrLen), v.srcPort, vip.address, vip.port),
      );
      const syn = (v.flags & (SYN | ACK | RST)) === SYN;
      if (e && syn && v.seq !== e.clientIsn) {
        close(e, 'replaced');
        e = undefined;
      }
      if (!e) {
        if (!syn) return drop('no-connection');
        const opened = open(pkt, vip, now);
        if (typeof opened === 'string') return drop(opened);
        e = opened;
      }
      track(e, true, now);
      const to: Rewrite = {
        src: e.local,
        srcPort: e.localPort,
        dst: e.backendAddr,
        dstPort: e.backendPort,
      };
      const forward = (packet: Uint8Array): Out => ({ to: 'backend', backend: e.backend, packet });
      if (carriesToa(e)) {
        e.toaSent++;
        if (optionsFit(v, e.toa.length)) {
          stats.toaInserted++;
          return [forward(rewrite(pkt, v, { ...to, insert: e.toa }))];
        }
        // No room: the TOA goes alone in a bare ACK just before the segment, which follows as is.
        stats.toaBareAck++;
        const original = rewrite(pkt, v, to);
        const ack = bareAck(pkt, v);
        const av = newSegmentView();
        viewSegment(ack, 0, av);
        return [forward(rewrite(ack, av, { ...to, insert: e.toa })), forward(original)];
      }
      return [forward(rewrite(pkt, v, to))];
    },
    fromBackend(pkt, now = Date.now()) {
      stats.fromBackend++;
      const bad = accept(pkt);
      if (bad) return drop(bad);
      const a = v.addr;
      const n = v.addrLen;
      const e = table.byBackend.get(
        backendKey(pkt.subarray(a, a + n), v.srcPort, pkt.subarray(a + n, a + 2 * n), v.dstPort),
      );
      if (!e) return drop('no-connection');
      track(e, false, now);
      const synAck = (v.flags & (SYN | ACK)) === (SYN | ACK);
      if (synAck) stats.mssLowered++;
      const packet = rewrite(pkt, v, {
        src: e.vip,
        srcPort: e.vport,
        dst: e.client,
        dstPort: e.clientPort,
        ...(synAck ? { mssDelta: e.toa.length } : {}),
      });
      return [{ to: 'client', packet }];
    },
    expire(now = Date.now()) {
      const gone = table.expire(now);
      for (const e of gone) {
        stats.closed++;
        emit({ kind: 'close', entry: e, reason: e.ended ?? 'expired' });
      }
      return gone.length;
    },
  };
}

const add = (a: number, n: number) => (a + n) >>> 0;

function sameAt(buf: Uint8Array, at: number, addr: Uint8Array): boolean {
  for (let i = 0; i < addr.length; i++) if (buf[at + i] !== addr[i]) return false;
  return true;
}

function parseAddress(text: string, what: string): Uint8Array {
  try {
    return textToAddress(text);
  } catch (e) {
    throw new Error(`${what} ${(e as Error).message}`);
  }
}

function checkPort(port: number): number {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`port ${port}: give 1..65535`);
  return port;
}

function familiesOf(config: LbConfig, backends: Vip[]): Map<4 | 6, Family> {
  const families = new Map<4 | 6, Family>();
  const [low, high] = config.ports ?? [1024, 65535];
  for (const text of config.locals) {
    const local = parseAddress(text, 'local address');
    const family = local.length === 4 ? 4 : 6;
    if (families.has(family)) throw new Error(`two local IPv${family} addresses: give one per family`);
    const format = (family === 4 ? config.format4 : config.format6) ?? (family === 4 ? '254/8' : '254/20');
    checkFormat(format, family);
    families.set(family, { local, pool: portPool(low, high), format, backends: [], turn: 0 });
  }
  backends.forEach((b, i) => {
    const family = b.address.length === 4 ? 4 : 6;
    const f = families.get(family);
    if (!f)
      throw new Error(
        `backend ${addressToText(b.address)} is IPv${family} but no local IPv${family} address is given: add --local`,
      );
    f.backends.push(i);
  });
  return families;
}

const SAMPLE = { 4: '192.0.2.1', 6: '2001:db8::1' } as const;

/** The format must carry a client of this family; encoding a sample proves it. */
function checkFormat(format: FormatName, family: 4 | 6): void {
  formatSpec(format);
  try {
    toaFor(format, textToAddress(SAMPLE[family]), 1, { address: textToAddress('192.0.2.2'), port: 1 });
  } catch (e) {
    const flag = family === 4 ? '--toa-format' : '--toa-format6';
    throw new Error(`${flag} ${format} cannot carry an IPv${family} client: ${(e as Error).message}`);
  }
}

/** The client's TOA option in `format`, padded to a multiple of 4. */
export function toaFor(format: FormatName, client: Uint8Array, port: number, vip: Vip): Uint8Array {
  const layout = formatSpec(format).layout;
  const input: ToaInput = { format, address: addressToText(client) };
  if (layout === 'port-addr' || layout === 'port-addr-vip') input.port = port;
  if (layout === 'port-addr-vip') input.vip = { address: addressToText(vip.address), port: vip.port };
  return padOption(encodeToa(input));
}

export type { NatEntry, Timeouts };
