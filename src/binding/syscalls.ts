// The syscalls originalPeer() needs, as the addon and the ffi-rs fallback both provide them.
// Each returns the bytes the kernel filled, or -errno; decoding happens once, in decode.ts.

export type BindingKind = 'addon' | 'ffi';

export interface Syscalls {
  kind: BindingKind;
  /**
   * One lookup, one syscall on the common paths: getsockopt(TOA_SO_GET_PEER) into `info`, else
   * getpeername into `addr`. Returns the info bytes filled (a TOA); or VIA_PEER | errno << 16 |
   * sockaddr bytes (the raw peer; errno is getsockopt's, 0 when it was skipped); or -errno
   * (EBADF/ENOTSOCK from getsockopt, else getpeername's). After an ENOPROTOOPT (toa.ko not
   * loaded) getsockopt is skipped for ABSENT_MS, process-wide: see README, "Cost".
   */
  lookup(fd: number, level: number): number;
  info: Buffer;
  addr: Buffer;
  /** getsockopt(fd, level, TOA_SO_GET_PEER, buf, &len) */
  peerInfo(fd: number, level: number, buf: Buffer): number;
  /** getpeername(fd, buf, &len) */
  peerName(fd: number, buf: Buffer): number;
}

/** kmod/uapi/toa.h */
export const TOA_SO_GET_PEER = 0x5440;
export const TOA_PEER_INFO_SIZE = 48;
export const SOCKADDR_SIZE = 128; // sizeof(struct sockaddr_storage)
/** native/toa_peer.c: the lookup() result bit for "the raw peer is in addr", and the window. */
export const VIA_PEER = 0x40000000;
export const ABSENT_MS = 1000;

// Linux values; the kernel side of this package only exists on Linux.
export const IPPROTO_IP = 0;
export const IPPROTO_IPV6 = 41;
export const AF_INET = 2;
export const AF_INET6 = 10;
export const ENOENT = 2;
export const EBADF = 9;
export const EINVAL = 22;
export const ENOTSOCK = 88;
export const ENOPROTOOPT = 92;
export const ENOTCONN = 107;
