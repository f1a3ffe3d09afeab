// Runs inside a lab guest (make bench): toa.ko loaded ÷ not loaded, all in one boot, one line per
// ratio — getpeername() ns on a socket without TOA and on a TOA socket, and accepts/s over
// loopback (accept4 with the address, the path every server takes). Not a timed test: the rounds
// alternate without/with the module and each ratio is of medians.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { connect, createNetns, deleteNetns, inNetns, moveLink, openTun } from '../../src/lab/index.js';
import { encodeOptions, encodeToa } from '../../src/wire/index.js';

const ITERS = Number(process.env.BENCH_ITERS ?? 300000);
const ACCEPTS = Number(process.env.BENCH_ACCEPTS ?? 4000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const run = (cmd: string, ...args: string[]) =>
  execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const cc = (name: string) => {
  const bin = `/tmp/toa-${name}`;
  run('cc', '-O2', '-pthread', '-o', bin, join(process.cwd(), `test/guest/c/${name}.c`));
  return bin;
};
const peers = cc('peers');
const accepts = cc('accepts');

const tun = openTun();
const ns = await createNetns();
await moveLink(tun.name, ns, { addresses: ['198.51.100.1/24'] });
let port = 9000;
let src = 40000;

function lines(child: ChildProcess): () => Promise<string> {
  const queue: string[] = [];
  const waiters: ((l: string) => void)[] = [];
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (l) => {
    const w = waiters.shift();
    if (w) w(l);
    else queue.push(l);
  });
  return () =>
    new Promise((resolve) => (queue.length ? resolve(queue.shift() as string) : waiters.push(resolve)));
}

/** ns per getpeername() on one accepted socket, with or without a TOA in its handshake. */
async function getpeername(toa: boolean): Promise<number> {
  const p = port++;
  const [cmd = 'ip', ...args] = inNetns(ns, [peers, '4', String(p), '1', '1', String(ITERS)]);
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const next = lines(child);
  await next();
  const c = await connect({
    tun,
    src: { address: '198.51.100.2', port: src++ },
    dst: { address: '198.51.100.1', port: p },
    ...(toa
      ? { ackOptions: encodeOptions([encodeToa({ format: '254/8', address: '192.0.2.1', port: 1 })]) }
      : {}),
  });
  const out = JSON.parse(await next()) as { ns_per_call: number; wrong: number };
  c.abort();
  if (out.wrong) throw new Error(`${out.wrong} wrong answers`);
  return out.ns_per_call;
}

/** Loopback connect + accept4 + reset per second. */
function acceptRate(): number {
  const out = run(...(inNetns(ns, [accepts, String(port++), String(ACCEPTS)]) as [string, ...string[]]));
  return (JSON.parse(out) as { per_second: number }).per_second;
}

type Sample = { plain: number; toa: number; accepts: number };
const sample = async (): Promise<Sample> => ({
  plain: await getpeername(false),
  toa: await getpeername(true),
  accepts: acceptRate(),
});

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

try {
  const without: Sample[] = [];
  const withToa: Sample[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    without.push(await sample());
    run('insmod', process.env.TOA_KO ?? '');
    try {
      withToa.push(await sample());
    } finally {
      run('rmmod', 'toa');
    }
  }
  const kv = process.env.TOA_KVER;
  const line = (what: string, key: keyof Sample, unit: string) => {
    const a = median(withToa.map((s) => s[key]));
    const b = median(without.map((s) => s[key]));
    // per-round ratios show the noise (other guests share the host's cores)
    const rounds = withToa.map((s, i) => (s[key] / (without[i] as Sample)[key]).toFixed(2)).join(' ');
    console.log(
      `bench ${kv}: ${what} with÷without ${(a / b).toFixed(3)} (${a.toFixed(0)} ÷ ${b.toFixed(0)} ${unit}; rounds ${rounds})`,
    );
  };
  line('getpeername non-TOA socket', 'plain', 'ns');
  line('getpeername TOA socket', 'toa', 'ns');
  line('accepts/s', 'accepts', '/s');
} finally {
  await tun.close();
  await deleteNetns(ns);
}
