// Guest-side views of kernel state for the unload cycles: slab usage, allocated TCP sockets and
// new kernel log lines. Runs inside a lab guest as root.
import { constants, openSync, readdirSync, readFileSync, readSync, writeFileSync } from 'node:fs';

/** Kernel log lines that mean the kernel is unwell, whoever caused it. */
export const BAD_KERNEL_LINE =
  /\b(BUG|WARNING|Oops)\b|kernel BUG|soft lockup|hard LOCKUP|self-detected stall|rcu_sched detected stall|rcu_preempt detected stall|general protection fault|blocked for more than/;

/**
 * Follows the kernel log through /dev/kmsg (no process to spawn: the load keeps running):
 * each call returns the messages logged since the previous one.
 */
export function kernelLog(): () => string[] {
  const fd = openSync('/dev/kmsg', constants.O_RDONLY | constants.O_NONBLOCK);
  const buf = Buffer.alloc(8192);
  const read = () => {
    const out: string[] = [];
    for (;;) {
      let n: number;
      try {
        n = readSync(fd, buf, 0, buf.length, null);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EAGAIN') return out;
        if (code === 'EPIPE') continue; // records overwritten before we read them: go on
        throw e;
      }
      // "prio,seq,usec,flags;message\n" then " KEY=value" dictionary lines
      const record = buf.toString('utf8', 0, n);
      out.push(record.slice(record.indexOf(';') + 1).split('\n')[0] ?? '');
    }
  };
  read();
  return read;
}

/** TCP sockets the kernel has allocated (all namespaces): `alloc` of /proc/net/sockstat. */
export function tcpSocketsAllocated(): number {
  const m = /^TCP: .*\balloc (\d+)/m.exec(readFileSync('/proc/net/sockstat', 'utf8'));
  if (!m) throw new Error('/proc/net/sockstat has no TCP alloc count');
  return Number(m[1]);
}

export interface SlabCache {
  objects: number;
  objsize: number;
}

/**
 * /proc/slabinfo after every cache is shrunk: SLUB counts the free objects of per-CPU slabs as
 * in use until they are flushed back, so only a shrink makes two snapshots comparable.
 */
export function slabSnapshot(): Map<string, SlabCache> {
  for (const name of readdirSync('/sys/kernel/slab')) {
    try {
      writeFileSync(`/sys/kernel/slab/${name}/shrink`, '1');
    } catch {
      // aliases and caches without the attribute: nothing to flush
    }
  }
  const caches = new Map<string, SlabCache>();
  for (const line of readFileSync('/proc/slabinfo', 'utf8').split('\n').slice(2)) {
    const [name, active, , objsize] = line.split(/\s+/);
    if (name) caches.set(name, { objects: Number(active), objsize: Number(objsize) });
  }
  return caches;
}

export interface SlabDelta {
  /** Growth of the kmalloc-* caches together, in bytes. */
  kmallocBytes: number;
  /** Growth in objects of the socket caches (TCP, TCPv6, their request and time-wait socks). */
  sockets: Record<string, number>;
  /** The caches that grew most, in bytes, for the report. */
  top: string[];
}

const SOCKET_CACHES = [
  'TCP',
  'TCPv6',
  'request_sock_TCP',
  'request_sock_TCPv6',
  'tw_sock_TCP',
  'tw_sock_TCPv6',
];

export function slabDelta(before: Map<string, SlabCache>, after: Map<string, SlabCache>): SlabDelta {
  const growth: [string, number][] = [];
  let kmallocBytes = 0;
  for (const [name, a] of after) {
    const b = before.get(name) ?? { objects: 0, objsize: a.objsize };
    const bytes = (a.objects - b.objects) * a.objsize;
    growth.push([name, bytes]);
    if (/^(dma-)?kmalloc-/.test(name)) kmallocBytes += bytes;
  }
  const sockets: Record<string, number> = {};
  for (const name of SOCKET_CACHES) {
    const a = after.get(name);
    if (a) sockets[name] = a.objects - (before.get(name)?.objects ?? 0);
  }
  const top = growth
    .sort((x, y) => y[1] - x[1])
    .slice(0, 5)
    .map(([name, bytes]) => `${name} ${bytes >= 0 ? '+' : ''}${bytes} B`);
  return { kmallocBytes, sockets, top };
}
