// Runs inside a lab guest (make bench): loopback handshakes per second (connect + accept) with
// toa.ko loaded ÷ not loaded, and with its SYN stash off (stash_max=0) ÷ on. Every SYN passes
// the SYN probe; these carry no TOA, the common case. Not a timed test.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const ITERS = Number(process.env.BENCH_ITERS ?? 5000);
const ROUNDS = 5;
const run = (cmd: string, ...args: string[]) =>
  execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const bin = '/tmp/toa-accepts';
run('cc', '-O2', '-o', bin, join(process.cwd(), 'test/bench/c/accepts.c'));
run('ip', 'link', 'set', 'lo', 'up');
let port = 9500;

const measure = () => (JSON.parse(run(bin, String(port++), String(ITERS))) as { per_sec: number }).per_sec;
const stash = (max: string) => writeFileSync('/sys/module/toa/parameters/stash_max', max);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

const bare: number[] = [];
const on: number[] = [];
const off: number[] = [];
// interleaved, so a drift in the emulator's (or the host's) speed hits all three alike
for (let i = 0; i < ROUNDS; i++) {
  bare.push(measure());
  run('insmod', process.env.TOA_KO ?? '');
  try {
    on.push(measure());
    stash('0');
    off.push(measure());
  } finally {
    run('rmmod', 'toa');
  }
}
const kv = process.env.TOA_KVER;
const [b, n, f] = [median(bare), median(on), median(off)];
const all = (xs: number[]) => `(rounds ${xs.map((x) => x.toFixed(0)).join(' ')})`;
console.log(`bench ${kv}: loopback accepts/s without module ${b.toFixed(0)} ${all(bare)}`);
console.log(
  `bench ${kv}: accepts/s with module (SYN stash on) ${n.toFixed(0)}, ratio ${(n / b).toFixed(3)} ${all(on)}`,
);
console.log(
  `bench ${kv}: accepts/s with module (SYN stash off) ${f.toFixed(0)}, ratio ${(f / b).toFixed(3)} ${all(off)}`,
);
