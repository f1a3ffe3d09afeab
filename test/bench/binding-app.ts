// The app side of `make bench` for originalPeer(): accepts CONNS (argv[3], default 1) connections
// on argv[2] (host:port), then times on the first, BENCH_ROUNDS (9) times over and interleaved, so
// that load on a shared machine hits every figure alike: the bare C syscalls (test/bench/syscall.c,
// given the socket as fd 3) just before and just after originalPeer() uncached through the addon
// (the lookup by fd: no per-socket cache, no Node-cached remoteAddress), then through ffi-rs, the
// addon's raw getsockopt, cached, and socket.remoteAddress. With two connections (different client
// addresses), also the addon lookup alternating between them, so the address text is never the
// last one decoded. Prints "listening", then one JSON line: the median ns per call of each, and
// the median of the per-round ratios addon / bare getpeername. Also the floor under any Node
// binding: getpeername in C with a second thread alive (a Node process always has several: the
// kernel then takes a reference on the file at each fd lookup), and the addon's raw lookup (the
// same N-API call and syscalls as originalPeer(), nothing decoded). Not a timed test.
import { execFileSync, spawnSync } from 'node:child_process';
import net from 'node:net';
import { join } from 'node:path';
import { loadAddon } from '../../src/binding/addon.js';
import { loadFfi } from '../../src/binding/ffi.js';
import { originalPeer } from '../../src/binding/index.js';
import { lookup } from '../../src/binding/peer.js';
import { IPPROTO_IP, type Syscalls, TOA_PEER_INFO_SIZE } from '../../src/binding/syscalls.js';

const ITERS = Number(process.env.BENCH_ITERS ?? 200000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 9);
const CONNS = Number(process.argv[3] ?? 1);
const [host = '127.0.0.1', port = '0'] = (process.argv[2] ?? '').split(/:(?=\d+$)/);
const bin = '/tmp/toa-bench-syscall';
execFileSync('cc', ['-O2', '-pthread', '-o', bin, join(process.cwd(), 'test/bench/syscall.c')]);
const must = (b: Syscalls | Error): Syscalls => {
  if (b instanceof Error) throw b;
  return b;
};
const addon = must(loadAddon());
const info = Buffer.alloc(TOA_PEER_INFO_SIZE);
const ffi = must(loadFfi());
const fdOf = (s: net.Socket) => (s as unknown as { _handle: { fd: number } })._handle.fd;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1] as number;

/** ns per call of f over iters calls. */
function time(f: () => unknown, iters = ITERS): number {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < iters; i++) f();
  return Number(process.hrtime.bigint() - t0) / iters;
}

function bench(sockets: net.Socket[]) {
  const [s, other] = sockets as [net.Socket, net.Socket | undefined];
  const fd = fdOf(s);
  const fds = other ? [fd, fdOf(other)] : [fd];
  let sink: unknown;
  let k = 0;
  const figures: Record<string, () => number> = {
    addon: () =>
      time(() => {
        sink = lookup(addon, fd);
      }),
    ffi: () =>
      time(() => {
        sink = lookup(ffi, fd);
      }, ITERS / 20),
    addonGetsockopt: () =>
      time(() => {
        sink = addon.peerInfo(fd, IPPROTO_IP, info);
      }),
    addonRaw: () =>
      time(() => {
        sink = addon.lookup(fd, IPPROTO_IP);
      }),
    cached: () =>
      time(() => {
        sink = originalPeer(s);
      }),
    remoteAddress: () =>
      time(() => {
        sink = s.remoteAddress;
      }),
  };
  if (other)
    figures.addonAlternating = () =>
      time(() => {
        sink = lookup(addon, fds[k++ & 1] as number);
      });
  for (const f of Object.values(figures)) time(f, 1); // warm up: one round each
  const runs: Record<string, number[]> = {
    bareGetpeername: [],
    bareGetsockopt: [],
    bareThreaded: [],
    ratio: [],
  };
  for (const name of Object.keys(figures)) runs[name] = [];
  let getsockoptResult = 0;
  const bareRun = () => {
    const c = spawnSync(bin, [String(ITERS)], { stdio: ['ignore', 'pipe', 'inherit', fd], encoding: 'utf8' });
    return JSON.parse(c.stdout) as {
      getpeername_ns: number;
      getsockopt_ns: number;
      getsockopt: number;
      threaded_getpeername_ns: number;
    };
  };
  for (let r = 0; r < ROUNDS; r++) {
    // The addon between two bare runs: its ratio compares calls made under the same load.
    const before = bareRun();
    const addonNs = figures.addon?.() as number;
    const after = bareRun();
    const bare = (before.getpeername_ns + after.getpeername_ns) / 2;
    runs.bareGetpeername?.push(bare);
    runs.bareGetsockopt?.push((before.getsockopt_ns + after.getsockopt_ns) / 2);
    runs.bareThreaded?.push((before.threaded_getpeername_ns + after.threaded_getpeername_ns) / 2);
    getsockoptResult = after.getsockopt;
    runs.addon?.push(addonNs);
    runs.ratio?.push(addonNs / bare);
    for (const [name, f] of Object.entries(figures)) if (name !== 'addon') runs[name]?.push(f());
  }
  if (sink === undefined) process.exitCode = 1;
  const out: Record<string, unknown> = { peer: originalPeer(s), getsockoptResult };
  for (const [name, xs] of Object.entries(runs)) {
    out[name] = median(xs);
    out[`${name}Spread`] = [Math.min(...xs), Math.max(...xs)];
  }
  return out;
}

const accepted: net.Socket[] = [];
const server = net.createServer((s) => {
  accepted.push(s);
  if (accepted.length < CONNS) return;
  process.stdout.write(`${JSON.stringify(bench(accepted))}\n`);
  for (const a of accepted) a.destroy();
  server.close();
});
server.listen(Number(port), host, () => {
  process.stdout.write(`listening ${(server.address() as net.AddressInfo).port}\n`);
});
