// `toa agent` started as a pod would run it (a fresh network namespace, loopback up, the
// compiled CLI), timed from spawn to its first 200 on /readyz, and its resident memory then.
// Used by test/guest/agent.test.ts; run directly in a lab guest it is the bench:
//   test/vm/boot.sh 7 node --import tsx test/bench/agent.ts   -> "agent: start→ready N ms, RSS M MB"
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);
// Issue 7's goals for a prebuilt module under TCG.
const GOAL_MS = 5000;
const GOAL_MB = 80;
let count = 0;

export interface AgentRun {
  child: ChildProcess;
  ns: string;
  startedAt: number;
  log(): string;
  /** An HTTP GET from inside the agent's namespace: [status, body]. */
  get(path: string): Promise<[number, string]>;
  /** Waits until the log holds `text` (`count` times, default once). */
  waitLog(text: string, count?: number, timeoutMs?: number): Promise<void>;
  exit: Promise<number | null>;
  /** VmRSS in MB */
  rssMb(): number;
  /** Remove the namespace (after the agent exited). */
  cleanup(): void;
}

/** An HTTP GET on 127.0.0.1:PORT from inside network namespace NS: [status, body] ([0, ''] if none). */
export async function getIn(ns: string, port: number, path: string): Promise<[number, string]> {
  try {
    const r = await exec('ip', [
      'netns',
      'exec',
      ns,
      'curl',
      '-s',
      '-m',
      '5',
      '-w',
      '\n%{http_code}',
      `http://127.0.0.1:${port}${path}`,
    ]);
    const lines = r.stdout.split('\n');
    return [Number(lines.pop()), lines.join('\n').replace(/\n$/, '')];
  } catch {
    return [0, ''];
  }
}

/** Waits until `log()` holds `text` `count` times; gives up after the timeout or once `alive` says no. */
export async function waitForLog(
  log: () => string,
  text: string,
  o: { count?: number; timeoutMs?: number; alive?: () => boolean } = {},
): Promise<void> {
  const { count = 1, timeoutMs = 120000, alive = () => true } = o;
  const end = Date.now() + timeoutMs;
  const seen = () => log().split(text).length - 1 >= count;
  while (!seen() && alive() && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  if (!seen()) throw new Error(`the agent never logged "${text}" (${count} times):\n${log()}`);
}

/** A named namespace (so that tests can put a TUN peer into it too), loopback up. */
export function podNetns(): string {
  const ns = `toaagent-${process.pid}-${++count}`;
  execFileSync('ip', ['netns', 'add', ns]);
  execFileSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  return ns;
}

export function spawnAgent(args: string[], o: { ns?: string; port?: number; node?: string } = {}): AgentRun {
  const ns = o.ns ?? podNetns();
  const port = o.port ?? 9101;
  const startedAt = performance.now();
  // `ip netns exec` execs: the child's pid is the agent's.
  const child = spawn(
    'ip',
    ['netns', 'exec', ns, process.execPath, 'bin/toa.js', 'agent', `--metrics-port=${port}`, ...args],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, NODE_NAME: o.node ?? 'lab-node', TMPDIR: '/tmp' },
    },
  );
  let err = '';
  child.stderr?.on('data', (d) => {
    err += d;
  });
  const exit = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return {
    child,
    ns,
    startedAt,
    exit,
    log: () => err,
    get: (path) => getIn(ns, port, path),
    waitLog: (text, count = 1, timeoutMs = 120000) =>
      waitForLog(() => err, text, { count, timeoutMs, alive: () => child.exitCode === null }),
    rssMb() {
      const kb = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1];
      return Number(kb) / 1024;
    },
    cleanup() {
      try {
        execFileSync('ip', ['netns', 'delete', ns], { stdio: 'ignore' });
      } catch {
        // already gone
      }
    },
  };
}

/** ms from spawn to the first 200 on /readyz (polled every 50 ms). */
export async function waitReady(a: AgentRun, timeoutMs = 180000): Promise<number> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const [code] = await a.get('/readyz');
    if (code === 200) return performance.now() - a.startedAt;
    if (a.child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const [code, body] = await a.get('/readyz');
  throw new Error(`not ready after ${timeoutMs} ms (${code} ${body}):\n${a.log()}`);
}

/** A prebuilt directory holding `ko` for this kernel, as the image ships it. */
export function prebuiltDir(ko: string, dir = mkdtempSync('/tmp/toa-prebuilt-')): string {
  mkdirSync(join(dir, release()), { recursive: true });
  copyFileSync(ko, join(dir, release(), 'toa.ko'));
  return dir;
}

async function main() {
  const ko = process.env.TOA_KO;
  if (!ko)
    throw new Error(
      'TOA_KO is unset: run this in the lab (test/vm/boot.sh SERIES node --import tsx test/bench/agent.ts)',
    );
  if (existsSync('/sys/module/toa')) execFileSync('rmmod', ['toa']);
  const dir = mkdtempSync('/tmp/toa-agent-bench-');
  writeFileSync(join(dir, 'config.json'), '{"trust": ["198.51.100.0/24"]}\n');
  const a = spawnAgent([
    `--config=${join(dir, 'config.json')}`,
    `--prebuilt-dir=${prebuiltDir(ko)}`,
    `--state-dir=${dir}`,
    '--prebuilt-only',
    '--unload-on-exit',
  ]);
  try {
    const ms = await waitReady(a);
    const rss = a.rssMb();
    process.stdout.write(
      `agent: start→ready ${ms.toFixed(0)} ms (${(ms / GOAL_MS).toFixed(2)}x the ${GOAL_MS} ms goal), RSS ${rss.toFixed(1)} MB (${(rss / GOAL_MB).toFixed(2)}x the ${GOAL_MB} MB goal) (kernel ${release()}, prebuilt)\n`,
    );
    // Where the time went: the agent's own timestamped log.
    process.stdout.write(
      `spawned ${new Date(performance.timeOrigin + a.startedAt).toISOString()}\n${a.log()}`,
    );
  } finally {
    a.child.kill('SIGTERM');
    await a.exit;
    a.cleanup();
  }
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\//, '/'))) await main();
