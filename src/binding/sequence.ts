// Syscalls.lookup() over the two raw calls: what native/toa_peer.c's lookup_fd() does in C, for
// the ffi-rs fallback, so both bindings answer alike (the window included).
import {
  ABSENT_MS,
  EBADF,
  ENOPROTOOPT,
  ENOTSOCK,
  SOCKADDR_SIZE,
  TOA_PEER_INFO_SIZE,
  VIA_PEER,
} from './syscalls.js';

type PeerInfo = (fd: number, level: number, buf: Buffer) => number;
type PeerName = (fd: number, buf: Buffer) => number;

export function sequence(peerInfo: PeerInfo, peerName: PeerName) {
  const info = Buffer.alloc(TOA_PEER_INFO_SIZE);
  const addr = Buffer.alloc(SOCKADDR_SIZE);
  let absentUntil = 0;
  function lookup(fd: number, level: number): number {
    let err = 0;
    if (absentUntil === 0 || performance.now() >= absentUntil) {
      const r = peerInfo(fd, level, info);
      if (r >= 0) return r;
      err = -r;
      if (err === EBADF || err === ENOTSOCK) return r;
      if (err === ENOPROTOOPT) absentUntil = performance.now() + ABSENT_MS;
    }
    const n = peerName(fd, addr);
    return n < 0 ? n : VIA_PEER | ((err & 0x3fff) << 16) | n;
  }
  return { lookup, info, addr };
}
