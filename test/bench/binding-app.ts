// The app side of `make bench` for originalPeer(): accepts one connection on argv[2] (host:port),
// then times, on that socket, originalPeer() uncached through the addon and through ffi-rs (the
// lookup by fd: no per-socket cache, no Node-cached remoteAddress), cached, the addon's raw
// getsockopt, socket.remoteAddress, and (test/bench/syscall.c, given the same socket as fd 3) the
// bare C syscalls. Prints "listening", then one JSON line of ns per call. Not a timed test.
import { execFileSync, spawnSync } from 'node:child_process';
import net from 'node:net';
import { join } from 'node:path';
import { loadAddon } from '../../src/binding/addon.js';
import { loadFfi } from '../../src/binding/ffi.js';
import { originalPeer } from '../../src/binding/index.js';
import { lookup } from '../../src/binding/peer.js';
import { IPPROTO_IP, type Syscalls, TOA_PEER_INFO_SIZE } from '../../src/binding/syscalls.js';

const ITERS = Number(process.env.BENCH_ITERS ?? 200000);
const ROUNDS = 5;
const [host = '127.0.0.1', port = '0'] = (process.argv[2] ?? '').split(/:(?=\d+$)/);
const bin = '/tmp/toa-bench-syscall';
execFileSync('cc', ['-O2', '-o', bin, join(process.cwd(), 'test/bench/syscall.c')]);
const must = (b: Syscalls | Error): Syscalls => {
  if (b instanceof Error) throw b;
  return b;
};
const addon = must(loadAddon());
const info = Buffer.alloc(TOA_PEER_INFO_SIZE);
const ffi = must(loadFfi());

/** Median over ROUNDS of ns per call of f, iters calls a round. */
function time(f: () => unknown, iters = ITERS): number {
  const xs: number[] = [];
  for (let i = 0; i < iters / 10; i++) f();
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < iters; i++) f();
    xs.push(Number(process.hrtime.bigint() - t0) / iters);
  }
  xs.sort((a, b) => a - b);
  return xs[ROUNDS >> 1] as number;
}

const server = net.createServer((s) => {
  const fd = (s as unknown as { _handle: { fd: number } })._handle.fd;
  let sink: unknown;
  const c = spawnSync(bin, [String(ITERS)], { stdio: ['ignore', 'pipe', 'inherit', fd], encoding: 'utf8' });
  const bare = JSON.parse(c.stdout) as { getpeername_ns: number; getsockopt_ns: number; getsockopt: number };
  const result = {
    peer: originalPeer(s),
    bareGetpeername: bare.getpeername_ns,
    bareGetsockopt: bare.getsockopt_ns,
    getsockoptResult: bare.getsockopt,
    addon: time(() => {
      sink = lookup(addon, fd);
    }),
    ffi: time(() => {
      sink = lookup(ffi, fd);
    }, ITERS / 20),
    addonGetsockopt: time(() => {
      sink = addon.peerInfo(fd, IPPROTO_IP, info);
    }),
    cached: time(() => {
      sink = originalPeer(s);
    }),
    remoteAddress: time(() => {
      sink = s.remoteAddress;
    }),
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
  if (sink === undefined) process.exitCode = 1;
  s.destroy();
  server.close();
});
server.listen(Number(port), host, () => {
  process.stdout.write(`listening ${(server.address() as net.AddressInfo).port}\n`);
});
