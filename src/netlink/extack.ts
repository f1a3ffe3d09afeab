// Turns on NETLINK_EXT_ACK for a socket of the npm netlink package, which offers no setsockopt:
// the fd is found by its port id (/proc/net/netlink) and inode (/proc/self/fd), then set via ffi-rs.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { DataType, load, open } from 'ffi-rs';

const SOL_NETLINK = 270;
const NETLINK_EXT_ACK = 11;
const NETLINK_GENERIC = 16;
const LIB = 'toa-netlink-libc';
let opened = false;

/** The inode of this netns's generic netlink socket bound to @port, from /proc/net/netlink. */
function inodeOf(port: number): string | undefined {
  for (const line of readFileSync('/proc/net/netlink', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (Number(f[1]) === NETLINK_GENERIC && Number(f[2]) === port) return f[9];
  }
  return undefined;
}

function fdOf(inode: string): number | undefined {
  const want = `socket:[${inode}]`;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`) === want) return Number(fd);
    } catch {
      // closed while we looked
    }
  }
  return undefined;
}

/** True when the kernel will attach its error messages to our NLMSG_ERRORs. */
export function enableExtAck(port: number): boolean {
  const inode = inodeOf(port);
  const fd = inode === undefined ? undefined : fdOf(inode);
  if (fd === undefined) return false;
  if (!opened) {
    open({ library: LIB, path: 'libc.so.6' });
    opened = true;
  }
  const one = Buffer.alloc(4);
  one.writeInt32LE(1);
  const ret = load({
    library: LIB,
    funcName: 'setsockopt',
    retType: DataType.I32,
    paramsType: [DataType.I32, DataType.I32, DataType.I32, DataType.U8Array, DataType.I32],
    paramsValue: [fd, SOL_NETLINK, NETLINK_EXT_ACK, one, 4],
  }) as number;
  return ret === 0;
}
