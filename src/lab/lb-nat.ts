// The load balancer's connection table: one entry per client connection, found from either side
// (client ip:port -> VIP:port, or backend ip:port -> local:port), with the local ports it holds,
// TCP state as seen in passing, and idle expiry.

export type NatState = 'syn' | 'syn-ack' | 'established' | 'closing' | 'closed';

export interface NatEntry {
  family: 4 | 6;
  client: Uint8Array;
  clientPort: number;
  vip: Uint8Array;
  vport: number;
  /** Index into the configured backends. */
  backend: number;
  backendAddr: Uint8Array;
  backendPort: number;
  local: Uint8Array;
  localPort: number;
  state: NatState;
  /** The client's ISN (from its SYN) and the backend's (from its SYN-ACK, once seen). */
  clientIsn: number;
  serverIsn: number | undefined;
  finClient: boolean;
  finBackend: boolean;
  /** How it ended, once it has: FIN both ways or a RST. */
  ended: 'fin' | 'rst' | undefined;
  /** The padded TOA option for this client, inserted into the handshake-completing segments. */
  toa: Uint8Array;
  /** Segments that carried it out. */
  toaSent: number;
  created: number;
  lastSeen: number;
  clientKey: string;
  backendKey: string;
}

export interface Timeouts {
  /** Before the handshake completes. */
  synMs: number;
  /** Established or half-closed, without a packet. */
  idleMs: number;
  /** After FIN both ways or a RST: long enough for the last ACK and repeated FINs. */
  closedMs: number;
}

export const DEFAULT_TIMEOUTS: Timeouts = { synMs: 30_000, idleMs: 300_000, closedMs: 10_000 };

const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

/** Key of a connection as the client side sees it (client and VIP endpoints). */
export function clientKey(client: Uint8Array, clientPort: number, vip: Uint8Array, vport: number): string {
  return `${hex(client)}:${clientPort}>${hex(vip)}:${vport}`;
}

/** Key as the backend side sees it (backend and local endpoints). */
export function backendKey(
  backend: Uint8Array,
  backendPort: number,
  local: Uint8Array,
  port: number,
): string {
  return `${hex(backend)}:${backendPort}>${hex(local)}:${port}`;
}

/** Local source ports, handed out in turn from [low, high] and given back when an entry goes. */
export interface PortPool {
  take(): number | undefined;
  give(port: number): void;
  readonly inUse: number;
}

export function portPool(low: number, high: number): PortPool {
  if (!(Number.isInteger(low) && Number.isInteger(high) && low >= 1 && low <= high && high <= 65535))
    throw new Error(`port range ${low}-${high}: give 1 <= LOW <= HIGH <= 65535`);
  const used = new Set<number>();
  let next = low;
  return {
    take() {
      const size = high - low + 1;
      for (let i = 0; i < size && used.size < size; i++) {
        const p = next;
        next = next === high ? low : next + 1;
        if (!used.has(p)) {
          used.add(p);
          return p;
        }
      }
      return undefined;
    },
    give(port) {
      used.delete(port);
    },
    get inUse() {
      return used.size;
    },
  };
}

export interface NatTable {
  readonly byClient: Map<string, NatEntry>;
  readonly byBackend: Map<string, NatEntry>;
  add(e: NatEntry): void;
  remove(e: NatEntry): void;
  /** Removes what has outlived its state's timeout; returns them. */
  expire(now: number): NatEntry[];
}

export function stateTimeout(t: Timeouts, e: NatEntry): number {
  if (e.state === 'syn' || e.state === 'syn-ack') return t.synMs;
  if (e.state === 'closed') return t.closedMs;
  return t.idleMs;
}

/** `release` gives an entry's local port back when it leaves the table. */
export function natTable(timeouts: Timeouts, release: (e: NatEntry) => void): NatTable {
  const byClient = new Map<string, NatEntry>();
  const byBackend = new Map<string, NatEntry>();
  const remove = (e: NatEntry) => {
    if (byClient.get(e.clientKey) === e) byClient.delete(e.clientKey);
    if (byBackend.get(e.backendKey) === e) byBackend.delete(e.backendKey);
    release(e);
  };
  return {
    byClient,
    byBackend,
    add(e) {
      byClient.set(e.clientKey, e);
      byBackend.set(e.backendKey, e);
    },
    remove,
    expire(now) {
      const gone: NatEntry[] = [];
      for (const e of byClient.values()) if (now - e.lastSeen >= stateTimeout(timeouts, e)) gone.push(e);
      for (const e of gone) remove(e);
      return gone;
    },
  };
}
