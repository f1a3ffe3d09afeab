// originalPeer(): who is really at the other end of a TCP connection, per toa.ko.
import type { Socket } from 'node:net';
import { decodePeerInfo, decodeSockaddr, type OriginalPeer } from './decode.js';
import { debug, syscalls } from './load.js';
import {
  EBADF,
  ENOENT,
  ENOPROTOOPT,
  ENOTCONN,
  ENOTSOCK,
  IPPROTO_IP,
  type Syscalls,
  VIA_PEER,
} from './syscalls.js';

// Node internals: a net.Socket's libuv handle is socket._handle (a TCPWrap, null once closed) and
// its descriptor is _handle.fd. TLS wraps it: the TCPWrap is then _handle._parent.
interface Handle {
  fd?: number;
  _parent?: Handle;
}

const cache = new WeakMap<Socket, OriginalPeer | null>();
const CLOSED = 'originalPeer: the socket is closed or destroyed; call it while the connection is open';
let warnedUnloaded = false;

function fdOf(socket: Socket): number {
  const handle = (socket as unknown as { _handle?: Handle | null })._handle;
  if (!handle) throw new Error(CLOSED);
  const fd = handle.fd ?? handle._parent?.fd;
  if (typeof fd !== 'number' || fd < 0)
    throw new Error(
      'originalPeer: this socket has no file descriptor (socket._handle.fd); pass a TCP socket or its fd',
    );
  return fd;
}

/** Why getsockopt gave no TOA, when that is news: ENOENT (no TOA here) and 0 (skipped) are not. */
function noted(fd: number, err: number): void {
  if (err !== ENOPROTOOPT) debug('getsockopt(fd %d) errno %d: plain peer', fd, err);
  else if (!warnedUnloaded) {
    warnedUnloaded = true;
    debug('toa.ko is not loaded: originalPeer() answers the plain peer');
  }
}

/** One uncached lookup through `sys`: what originalPeer() answers before caching. */
export function lookup(sys: Syscalls, fd: number, level = IPPROTO_IP): OriginalPeer | null {
  const r = sys.lookup(fd, level);
  if (r >= 0 && r < VIA_PEER) return decodePeerInfo(sys.info, r);
  if (r > 0) {
    const err = (r >>> 16) & 0x3fff;
    if (err !== 0 && err !== ENOENT) noted(fd, err);
    return decodeSockaddr(sys.addr);
  }
  if (r === -ENOTCONN) return null;
  if (r === -EBADF || r === -ENOTSOCK) throw new Error(`originalPeer: fd ${fd} is not an open socket`);
  throw new Error(`originalPeer: getpeername(fd ${fd}) failed, errno ${-r}`);
}

/**
 * The client of a TCP connection: the address a TOA carried (via 'toa', with the load balancer in
 * `lb`), or the socket's own peer (via 'peer'). Never throws because toa.ko is missing; throws for
 * a closed socket or a bad fd. null when the socket is not connected or not IP. Cached per socket
 * object (a raw fd is looked up every time: descriptors are reused).
 */
export function originalPeer(socket: Socket | number): OriginalPeer | null {
  if (typeof socket === 'number') return lookup(syscalls(), socket);
  if (socket.destroyed) throw new Error(CLOSED);
  const hit = cache.get(socket);
  if (hit !== undefined) return hit;
  const peer = lookup(syscalls(), fdOf(socket));
  cache.set(socket, peer);
  return peer;
}
