// `make bench`: offline decode speed of `toa inspect -r FILE --summary` against tshark with our
// dissector (contrib/wireshark/toa.lua) printing the equivalent toa.* fields, on the same
// generated captures, and toa's peak RSS on two file sizes (memory must not grow with the file).
// Prints numbers and ratios; asserts nothing (timings belong here, never in tests).
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
    small: { type: 'string', default: '250000' },
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
  /** Peak resident set, KiB. */
  rssKb: number;
  stdout: string;
}

// GNU time gives the wall clock and the peak RSS of the process itself.
function timed(cmd: string[], keepStdout: boolean): Run {
  const r = spawnSync('/usr/bin/time', ['-f', 'TIME %e %M', ...cmd], {
    encoding: 'utf8',
    maxBuffer: 1 << 26,
    stdio: ['ignore', keepStdout ? 'pipe' : 'ignore', 'pipe'],
  });
  if (r.error) throw new Error(`/usr/bin/time did not run (${r.error.message}): apt-get install time`);
  const m = /TIME ([\d.]+) (\d+)\s*$/.exec(r.stderr);
  if (r.status !== 0 || !m)
    throw new Error(`${cmd.join(' ')} failed (${r.status}): ${r.stderr.slice(-2000)}`);
  return { seconds: Number(m[1]), rssKb: Number(m[2]), stdout: r.stdout ?? '' };
}

function best(runs: number, cmd: string[], keepStdout = false): Run {
  const all = Array.from({ length: runs }, () => timed(cmd, keepStdout));
  const fastest = all.reduce((a, b) => (b.seconds < a.seconds ? b : a));
  return { ...fastest, rssKb: Math.max(...all.map((r) => r.rssKb)) };
}

const rate = (packets: number, seconds: number) => packets / Math.max(seconds, 0.001);
const mps = (perSecond: number) => `${(perSecond / 1e6).toFixed(2)} M packets/s`;
const mib = (kb: number) => `${(kb / 1024).toFixed(0)} MiB`;

function toa(file: string, runs: number): Run {
  const bin = join(ROOT, 'bin', 'toa.js');
  if (!existsSync(join(ROOT, 'dist', 'src', 'cli', 'main.js')))
    throw new Error('the CLI is not built: run `npm run build` (make bench does)');
  return best(runs, [process.execPath, bin, 'inspect', '-r', file, '--summary'], true);
}

function main(): void {
  const big = Number(values.packets);
  const small = Number(values.small);
  const runs = Number(values.runs);
  const bigFile = capture(big);
  const smallFile = capture(small);
  const emptyFile = capture(0);

  const t = toa(bigFile, runs);
  console.log(`\ntoa inspect -r --summary, ${big} packets (best of ${runs}, process wall clock):`);
  console.log(t.stdout.trimEnd().replace(/^/gm, '  '));
  const toaRate = rate(big, t.seconds);
  console.log(`  ${t.seconds.toFixed(2)} s: ${mps(toaRate)} (goal >= 3)`);
  // Node's start and the CLI's imports, measured on a capture with no packets.
  const e = toa(emptyFile, runs);
  console.log(
    `  of which ${e.seconds.toFixed(2)} s start-up: ${mps(rate(big, t.seconds - e.seconds))} decoding`,
  );
  const s = toa(smallFile, runs);
  console.log(`\npeak RSS of toa inspect: ${mib(s.rssKb)} on ${small} packets, ${mib(t.rssKb)} on ${big}`);
  console.log(
    `  ratio ${(t.rssKb / s.rssKb).toFixed(2)} for ${(big / small).toFixed(0)}x the packets (flat: near 1)`,
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
