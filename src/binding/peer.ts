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
  SOCKADDR_SIZE,
  type Syscalls,
  TOA_PEER_INFO_SIZE,
} from './syscalls.js';

// Node internals: a net.Socket's libuv handle is socket._handle (a TCPWrap, null once closed) and
// its descriptor is _handle.fd. TLS wraps it: the TCPWrap is then _handle._parent.
interface Handle {
  fd?: number;
  _parent?: Handle;
}

const cache = new WeakMap<Socket, OriginalPeer | null>();
const CLOSED = 'originalPeer: the socket is closed or destroyed; call it while the connection is open';
const info = Buffer.alloc(TOA_PEER_INFO_SIZE);
const addr = Buffer.alloc(SOCKADDR_SIZE);
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

/**
 * The plain peer: Node's own (cached) remoteAddress when there is a socket, else getpeername.
 * Object literals, not spreads: a spread here cost more than the syscall.
 */
function plainPeer(sys: Syscalls, fd: number, socket?: Socket): OriginalPeer | null {
  if (socket) {
    const { remoteAddress: address, remotePort: port, remoteFamily: family } = socket;
    if (address === undefined || port === undefined) return null;
    return { address, port, family: family === 'IPv6' ? 'IPv6' : 'IPv4', via: 'peer' };
  }
  const r = sys.peerName(fd, addr);
  if (r === -ENOTCONN) return null;
  if (r < 0) throw new Error(`originalPeer: getpeername(fd ${fd}) failed, errno ${-r}`);
  const peer = decodeSockaddr(addr);
  return peer && { address: peer.address, port: peer.port, family: peer.family, via: 'peer' };
}

/** One uncached lookup through `sys`: what originalPeer() answers before caching. */
export function lookup(sys: Syscalls, fd: number, socket?: Socket, level = IPPROTO_IP): OriginalPeer | null {
  const r = sys.peerInfo(fd, level, info);
  if (r >= 0) return decodePeerInfo(info, r);
  if (r === -EBADF || r === -ENOTSOCK) throw new Error(`originalPeer: fd ${fd} is not an open socket`);
  if (r === -ENOPROTOOPT && !warnedUnloaded) {
    warnedUnloaded = true;
    debug('toa.ko is not loaded: originalPeer() answers the plain peer');
  }
  // ENOENT: no TOA on this socket. Anything else (a non-IP socket...): no TOA either.
  if (r !== -ENOENT && r !== -ENOPROTOOPT) debug('getsockopt(fd %d) errno %d: plain peer', fd, -r);
  return plainPeer(sys, fd, socket);
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
  const peer = lookup(syscalls(), fdOf(socket), socket);
  cache.set(socket, peer);
  return peer;
}
