// Runs inside a lab guest (make bench): getpeername() cost with toa.ko loaded ÷ not loaded, on a
// socket without TOA and on a TOA socket; one line per ratio. Not a timed test.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { connect, createNetns, deleteNetns, inNetns, moveLink, openTun } from '../../src/lab/index.js';
import { encodeOptions, encodeToa } from '../../src/wire/index.js';

const ITERS = Number(process.env.BENCH_ITERS ?? 300000);
const ROUNDS = 5;
const run = (cmd: string, ...args: string[]) =>
  execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const bin = '/tmp/toa-peers';
run('cc', '-O2', '-pthread', '-o', bin, join(process.cwd(), 'test/guest/c/peers.c'));

const tun = openTun();
const ns = await createNetns();
await moveLink(tun.name, ns, { addresses: ['198.51.100.1/24'] });
let port = 9000;
let src = 40000;

function firstLine(child: ChildProcess): () => Promise<string> {
  const lines: string[] = [];
  const waiters: ((l: string) => void)[] = [];
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (l) => {
    const w = waiters.shift();
    if (w) w(l);
    else lines.push(l);
  });
  return () =>
    new Promise((resolve) => (lines.length ? resolve(lines.shift() as string) : waiters.push(resolve)));
}

/** ns per getpeername() on one accepted socket, with or without a TOA in its handshake. */
async function measure(toa: boolean): Promise<number> {
  const p = port++;
  const [cmd = 'ip', ...args] = inNetns(ns, [bin, '4', String(p), '1', '1', String(ITERS)]);
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const next = firstLine(child);
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

async function median(toa: boolean): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < ROUNDS; i++) xs.push(await measure(toa));
  xs.sort((a, b) => a - b);
  return xs[Math.floor(xs.length / 2)] as number;
}

try {
  const bare = await median(false);
  run('insmod', process.env.TOA_KO ?? '');
  const plain = await median(false);
  const withToa = await median(true);
  run('rmmod', 'toa');
  const kv = process.env.TOA_KVER;
  console.log(`bench ${kv}: getpeername without module ${bare.toFixed(0)} ns`);
  console.log(
    `bench ${kv}: getpeername non-TOA socket ${plain.toFixed(0)} ns, ratio ${(plain / bare).toFixed(3)}`,
  );
  console.log(
    `bench ${kv}: getpeername TOA socket ${withToa.toFixed(0)} ns, ratio ${(withToa / bare).toFixed(3)}`,
  );
} finally {
  await tun.close();
  await deleteNetns(ns);
}
