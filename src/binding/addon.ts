// The N-API addon native/toa_peer.c, as node-gyp builds it at npm install.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { SOCKADDR_SIZE, type Syscalls, TOA_PEER_INFO_SIZE } from './syscalls.js';

// src/binding (tsx) and dist/src/binding (built) sit at different depths below the package root.
const CANDIDATES = [
  '../../native/build/Release/toa_peer.node',
  '../../../native/build/Release/toa_peer.node',
];

interface Addon {
  lookupWith(info: Buffer, addr: Buffer): (fd: number, level: number) => number;
  peerInfo(fd: number, level: number, buf: Buffer): number;
  peerName(fd: number, buf: Buffer): number;
}

/** The addon, or an Error saying why it is not there. */
export function loadAddon(): Syscalls | Error {
  const path = CANDIDATES.map((c) => fileURLToPath(new URL(c, import.meta.url))).find((p) => existsSync(p));
  if (!path) return new Error('native/build/Release/toa_peer.node is not built (npm run build:native)');
  try {
    const addon = createRequire(import.meta.url)(path) as Addon;
    const info = Buffer.alloc(TOA_PEER_INFO_SIZE);
    const addr = Buffer.alloc(SOCKADDR_SIZE);
    const lookup = addon.lookupWith(info, addr);
    return { kind: 'addon', lookup, info, addr, peerInfo: addon.peerInfo, peerName: addon.peerName };
  } catch (err) {
    return new Error(`cannot load ${path}: ${(err as Error).message}`);
  }
}
