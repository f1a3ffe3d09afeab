// A TUN device (IFF_TUN | IFF_NO_PI): whole IP packets in and out of a file descriptor.
//
// Reads: the fd is O_NONBLOCK; one loop polls it together with an eventfd through ffi-rs's
// runInNewThread (napi async work: a libuv pool thread, held for one poll of at most 1 s, never
// a blocking read), then drains the fd with non-blocking reads on the main thread. close()
// writes the eventfd, the pending poll returns at once, the loop ends and both fds are closed:
// nothing keeps the process alive afterwards. While a device is open one pool thread is mostly
// busy; with many devices open at once, raise UV_THREADPOOL_SIZE.
import { closeSync, constants, openSync, readSync, writeSync } from 'node:fs';
import { EFD_CLOEXEC, EFD_NONBLOCK, eventfd, ioctl, pollAsync, pollFds } from './libc.js';

const TUNSETIFF = 0x400454ca;
const IFF_TUN = 0x0001;
const IFF_NO_PI = 0x1000;
const IFNAMSIZ = 16;
const POLL_MS = 1000;
const MAX_PACKET = 65536;
const DRAIN_BATCH = 256;

export type PacketListener = (packet: Uint8Array) => void;

export interface Tun {
  /** The interface name the kernel gave (a '%d' in the requested name is filled in). */
  readonly name: string;
  readonly fd: number;
  /** Send one IP packet into the kernel through the device. */
  write(packet: Uint8Array): void;
  /** Every packet the kernel sends out of the device; returns the unsubscribe function. */
  onPacket(listener: PacketListener): () => void;
  /** The next packet for which `match` is true; rejects after timeoutMs. */
  next(match?: (packet: Uint8Array) => boolean, timeoutMs?: number): Promise<Uint8Array>;
  /** Stop reading and close the device (it disappears from its namespace). */
  close(): Promise<void>;
  readonly closed: boolean;
}

/** Create a TUN device named `name` ('toa%d' lets the kernel pick a free number). */
export function openTun(name = 'toa%d'): Tun {
  if (Buffer.byteLength(name) >= IFNAMSIZ) throw new Error(`interface name '${name}' is over 15 bytes`);
  const fd = openDevice();
  const ifr = Buffer.alloc(40);
  ifr.write(name, 0, 'latin1');
  ifr.writeUInt16LE(IFF_TUN | IFF_NO_PI, IFNAMSIZ);
  const r = ioctl(fd, TUNSETIFF, ifr);
  if (r.value < 0) {
    closeSync(fd);
    throw new Error(`TUNSETIFF ${name}: ${r.message}: ${setiffHint(r.errno)}`);
  }
  const ev = eventfd(EFD_NONBLOCK | EFD_CLOEXEC);
  if (ev.value < 0) {
    closeSync(fd);
    throw new Error(`eventfd: ${ev.message}`);
  }
  return startTun(ifr.toString('latin1', 0, ifr.indexOf(0)), fd, ev.value);
}

function openDevice(): number {
  try {
    return openSync('/dev/net/tun', constants.O_RDWR | constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new Error('/dev/net/tun missing: load the tun module (modprobe tun)');
    if (code === 'EACCES' || code === 'EPERM')
      throw new Error('/dev/net/tun: permission denied; run as root');
    throw e;
  }
}

function setiffHint(errno: number): string {
  if (errno === 1) return 'needs CAP_NET_ADMIN: run as root';
  if (errno === 16) return 'the name is taken by another device: pick another or delete it';
  return 'check that the tun module is loaded';
}

// read(2) on a TUN fd whose device was removed; libuv has no name for it.
const EBADFD = -77;

function startTun(name: string, fd: number, wake: number): Tun {
  const listeners = new Set<PacketListener>();
  const waiters = new Set<(e: Error) => void>();
  let closing = false;
  const buf = Buffer.alloc(MAX_PACKET);

  // No more packets: listeners dropped, waiters told why.
  const stop = (why: string) => {
    closing = true;
    listeners.clear();
    for (const w of [...waiters]) w(new Error(`tun ${name}: ${why} while waiting for a packet`));
  };

  const deliver = (packet: Uint8Array) => {
    for (const l of [...listeners]) l(packet);
  };

  // Drain what is queued now; false when the fd is empty.
  const drain = (): boolean => {
    for (let i = 0; i < DRAIN_BATCH; i++) {
      let n: number;
      try {
        n = readSync(fd, buf, 0, MAX_PACKET, null);
      } catch (e) {
        const { code, errno } = e as NodeJS.ErrnoException;
        if (code === 'EAGAIN' || code === 'EWOULDBLOCK') return false;
        // The device is gone (deleted, or its network namespace destroyed): nothing more to read.
        if (errno === EBADFD) {
          stop(`the device ${name} was removed`);
          return false;
        }
        throw e;
      }
      deliver(Uint8Array.prototype.slice.call(buf, 0, n));
    }
    return true;
  };

  const fds = pollFds([fd, wake]);
  const loop = async () => {
    try {
      while (!closing) {
        const r = await pollAsync(fds, POLL_MS);
        if (closing) break;
        if (r.value < 0 && r.errno !== 4) throw new Error(`poll on ${name}: ${r.message}`);
        // Fairness: yield to timers and I/O between batches.
        if (r.value > 0 && drain()) await new Promise((res) => setImmediate(res));
      }
    } finally {
      closeSync(fd);
      closeSync(wake);
    }
  };
  const done = loop();

  const tun: Tun = {
    name,
    fd,
    get closed() {
      return closing;
    },
    write(packet) {
      if (closing) throw new Error(`tun ${name} is closed`);
      writeSync(fd, packet);
    },
    onPacket(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    next(match = () => true, timeoutMs = 5000) {
      return new Promise((resolve, reject) => {
        if (closing) return reject(new Error(`tun ${name} is closed`));
        const finish = (e?: Error, p?: Uint8Array) => {
          off();
          clearTimeout(timer);
          waiters.delete(finish);
          if (e) reject(e);
          else resolve(p as Uint8Array);
        };
        const timer = setTimeout(
          () => finish(new Error(`no matching packet on ${name} within ${timeoutMs} ms`)),
          timeoutMs,
        );
        const off = tun.onPacket((p) => {
          if (match(p)) finish(undefined, p);
        });
        waiters.add(finish);
      });
    },
    async close() {
      if (!closing) {
        stop('closed');
        const one = Buffer.alloc(8);
        one.writeBigUInt64LE(1n);
        writeSync(wake, one);
      }
      await done;
    },
  };
  return tun;
}
