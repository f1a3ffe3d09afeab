// `make bench`: offline decode speed of `toa inspect -r FILE --summary` (the built CLI as users run
// it: a fresh process each time, so every run is a cold one) against tshark with our dissector
// (contrib/wireshark/toa.lua) printing the equivalent toa.* fields, on the same generated
// capture; toa's peak RSS on 1M and 3M packets (memory must not grow with the file); the cost
// of a --filter. Prints numbers and ratios; asserts nothing (timings belong here, never in tests).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { generateCapture } from './generate.js';

const ROOT = join(import.meta.dirname, '..', '..');
const BUILD = process.env.BUILD ?? join(ROOT, 'build');
/** Bump when generate.ts changes what it writes: cached captures are found by name. */
const GENERATION = 1;
const LUA = join(ROOT, 'contrib', 'wireshark', 'toa.lua');
const TOA_FIELDS = ['toa.format', 'toa.client', 'toa.port', 'toa.vip', 'toa.vport', 'toa.error'];

const { values } = parseArgs({
  options: {
    packets: { type: 'string', default: '1000000' },
    large: { type: 'string', default: '3000000' },
    runs: { type: 'string', default: '3' },
    'no-tshark': { type: 'boolean', default: false },
  },
});

function capture(packets: number): string {
  const dir = join(BUILD, 'bench');
  const path = join(dir, `inspect-g${GENERATION}-${packets}.pcap`);
  if (existsSync(path)) return path;
  mkdirSync(dir, { recursive: true });
  const started = Date.now();
  const { connections } = generateCapture(`${path}.tmp`, packets);
  renameSync(`${path}.tmp`, path);
  const mb = (statSync(path).size / 1e6).toFixed(0);
  console.log(
    `generated ${path}: ${packets} packets, ${connections} connections, ${mb} MB (${Date.now() - started} ms)`,
  );
  return path;
}

interface Run {
  seconds: number;
  /** CPU time of all the process's threads (user + system): what a busy machine does not inflate. */
  cpu: number;
  /** CPU time of the main thread alone (main-cpu.cjs; 0 when not measured): an idle machine's wall clock. */
  mainCpu: number;
  /** Peak resident set, KiB. */
  rssKb: number;
  stdout: string;
}

// GNU time gives the wall clock and the peak RSS of the process itself.
function timed(cmd: string[], keepStdout: boolean): Run {
  const r = spawnSync('/usr/bin/time', ['-f', 'TIME %e %U %S %M', ...cmd], {
    encoding: 'utf8',
    maxBuffer: 1 << 26,
    stdio: ['ignore', keepStdout ? 'pipe' : 'ignore', 'pipe'],
  });
  if (r.error) throw new Error(`/usr/bin/time did not run (${r.error.message}): apt-get install time`);
  const m = /TIME ([\d.]+) ([\d.]+) ([\d.]+) (\d+)\s*$/.exec(r.stderr);
  const main = /MAINCPU ([\d.]+)/.exec(r.stderr);
  if (r.status !== 0 || !m)
    throw new Error(`${cmd.join(' ')} failed (${r.status}): ${r.stderr.slice(-2000)}`);
  return {
    seconds: Number(m[1]),
    cpu: Number(m[2]) + Number(m[3]),
    mainCpu: main ? Number(main[1]) : 0,
    rssKb: Number(m[4]),
    stdout: r.stdout ?? '',
  };
}

function best(runs: number, cmd: string[], keepStdout = false): Run {
  const all = Array.from({ length: runs }, () => timed(cmd, keepStdout));
  const fastest = all.reduce((a, b) => (b.seconds < a.seconds ? b : a));
  return {
    ...fastest,
    cpu: Math.min(...all.map((r) => r.cpu)),
    mainCpu: Math.min(...all.map((r) => r.mainCpu)),
    rssKb: Math.max(...all.map((r) => r.rssKb)),
  };
}

const rate = (packets: number, seconds: number) => packets / Math.max(seconds, 0.001);
const mps = (perSecond: number) => `${(perSecond / 1e6).toFixed(2)} M packets/s`;
const mib = (kb: number) => `${(kb / 1024).toFixed(0)} MiB`;

function toa(file: string, runs: number, extra: string[] = []): Run {
  const bin = join(ROOT, 'bin', 'toa.js');
  if (!existsSync(join(ROOT, 'dist', 'src', 'cli', 'main.js')))
    throw new Error('the CLI is not built: run `npm run build` (make bench does)');
  const preload = join(import.meta.dirname, 'main-cpu.cjs');
  return best(
    runs,
    [process.execPath, '-r', preload, bin, 'inspect', '-r', file, '--summary', ...extra],
    true,
  );
}

function main(): void {
  const big = Number(values.packets);
  const large = Number(values.large);
  const runs = Number(values.runs);
  const bigFile = capture(big);
  const largeFile = capture(large);
  const emptyFile = capture(0);

  const t = toa(bigFile, runs);
  console.log(`\ntoa inspect -r --summary, ${big} packets (best of ${runs} cold runs, process wall clock):`);
  console.log(t.stdout.trimEnd().replace(/^/gm, '  '));
  const toaRate = rate(big, t.seconds);
  console.log(`  ${t.seconds.toFixed(2)} s: ${mps(toaRate)} (goal >= 3)`);
  // On a shared machine the wall clock includes waiting for a CPU; the CPU time does not.
  console.log(
    `  main thread ${t.mainCpu.toFixed(2)} s of CPU: ${mps(rate(big, t.mainCpu))} on an idle machine; all threads ${t.cpu.toFixed(2)} s`,
  );
  // Node's start and the CLI's imports, measured on a capture with no packets.
  const e = toa(emptyFile, runs);
  console.log(
    `  of which start-up (an empty capture) ${e.seconds.toFixed(2)} s, main thread ${e.mainCpu.toFixed(2)} s`,
  );
  const f = toa(bigFile, runs, ['--filter', 'tcp port 443']);
  console.log(`  with --filter 'tcp port 443': ${f.seconds.toFixed(2)} s, ${mps(rate(big, f.seconds))} read`);
  const l = toa(largeFile, 1);
  console.log(`\npeak RSS of toa inspect: ${mib(t.rssKb)} on ${big} packets, ${mib(l.rssKb)} on ${large}`);
  console.log(
    `  ratio ${(l.rssKb / t.rssKb).toFixed(2)} for ${(large / big).toFixed(0)}x the packets (flat: near 1); ${large} packets in ${l.seconds.toFixed(2)} s: ${mps(rate(large, l.seconds))}`,
  );

  if (values['no-tshark']) return;
  const which = spawnSync('tshark', ['--version'], { stdio: 'ignore' });
  if (which.error) throw new Error('tshark is not installed: run test/deps.sh (make bench does)');
  const fields = TOA_FIELDS.flatMap((f) => ['-e', f]);
  const w = timed(
    ['tshark', '-n', '-r', bigFile, '-X', `lua_script:${LUA}`, '-T', 'fields', ...fields],
    false,
  );
  const wiresharkRate = rate(big, w.seconds);
  console.log(`\ntshark -r -X lua_script:toa.lua -T fields -e toa.*, ${big} packets (one run):`);
  console.log(`  ${w.seconds.toFixed(2)} s: ${mps(wiresharkRate)}, peak RSS ${mib(w.rssKb)}`);
  console.log(`\ntoa inspect / tshark: ${(toaRate / wiresharkRate).toFixed(1)}x (goal >= 5x)`);
}

main();
