// The two syscalls originalPeer() needs, as the addon and the ffi-rs fallback both provide them.
// Each returns the bytes the kernel filled, or -errno; decoding happens once, in decode.ts.

export type BindingKind = 'addon' | 'ffi';

export interface Syscalls {
  kind: BindingKind;
  /** getsockopt(fd, level, TOA_SO_GET_PEER, buf, &len) */
  peerInfo(fd: number, level: number, buf: Buffer): number;
  /** getpeername(fd, buf, &len) */
  peerName(fd: number, buf: Buffer): number;
}

/** kmod/uapi/toa.h */
export const TOA_SO_GET_PEER = 0x5440;
export const TOA_PEER_INFO_SIZE = 48;
export const SOCKADDR_SIZE = 128; // sizeof(struct sockaddr_storage)

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
