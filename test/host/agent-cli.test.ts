// `toa agent` as a process on the host, where no module is loaded: flags and their errors, the
// HTTP endpoints (from inside the agent's own network namespace, as the kubelet probes a pod),
// the not-ready reasons, a bad config swapped in (refused, counted, the previous kept) and
// SIGTERM. With --prebuilt-only and an empty prebuilt directory nothing is ever loaded here; the
// loading paths run in the lab (test/guest/agent.test.ts).
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { configMapVolume } from '../configmap.js';

const CLI = ['--import', 'tsx', 'src/cli/main.ts'];
const tmp = mkdtempSync(join(tmpdir(), 'toa-agent-cli-'));
const empty = join(tmp, 'prebuilt');
mkdirSync(empty);
test.after(() => rmSync(tmp, { recursive: true, force: true }));

function toa(...args: string[]) {
  const r = spawnSync(process.execPath, [...CLI, ...args], { encoding: 'utf8', timeout: 60000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

interface Running {
  child: ChildProcess;
  log: () => string;
  /** curl inside the agent's namespace: [status, body] */
  get: (path: string) => [number, string];
  waitLog: (text: string) => Promise<void>;
  exit: Promise<number | null>;
}

/** The agent in a fresh network namespace (loopback up), like a pod. */
function startAgent(args: string[], port = 9101): Running {
  const child = spawn(
    'unshare',
    [
      '--net',
      'sh',
      '-c',
      'ip link set lo up && exec "$@"',
      'sh',
      process.execPath,
      ...CLI,
      'agent',
      `--metrics-port=${port}`,
      ...args,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, NODE_NAME: 'node-a' } },
  );
  let err = '';
  child.stderr?.on('data', (d) => {
    err += d;
  });
  const exit = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const get = (path: string): [number, string] => {
    const r = spawnSync(
      'nsenter',
      [
        '-t',
        String(child.pid),
        '-n',
        'curl',
        '-s',
        '-w',
        '\n%{http_code}',
        `http://127.0.0.1:${port}${path}`,
      ],
      { encoding: 'utf8' },
    );
    const lines = r.stdout.split('\n');
    return [Number(lines.pop()), lines.join('\n').replace(/\n$/, '')];
  };
  const waitLog = async (text: string) => {
    for (let i = 0; i < 200 && !err.includes(text); i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(err.includes(text), `the log never said ${text}:\n${err}`);
  };
  return { child, log: () => err, get, waitLog, exit };
}

test('toa agent --help: the contract flags, the environment, what exit and not-ready mean', () => {
  const r = toa('agent', '--help');
  assert.is(r.code, 0);
  for (const flag of [
    '--config <file>',
    '--metrics-port <port>',
    '--state-dir <dir>',
    '--host-usr-lib <dir>',
    '--prebuilt-only',
    '--prebuilt-dir <dir>',
    '--unload-on-exit',
  ])
    assert.match(r.stdout, flag);
  assert.match(r.stdout, 'NODE_NAME names the node in logs and metric labels');
  assert.match(r.stdout, 'Not ready (503 on /readyz');
});

test('flag errors exit 2 with one line', () => {
  for (const [args, err] of [
    [['--metrics-port', 'http'], 'toa agent: --metrics-port http: give a TCP port, 1-65535\n'],
    [['--metrics-port', '70000'], 'toa agent: --metrics-port 70000: give a TCP port, 1-65535\n'],
    [
      ['--prebuilt-only', '--host-usr-lib', '/host/usr/lib'],
      'toa agent: --prebuilt-only and --host-usr-lib exclude each other (no headers are used)\n',
    ],
    [['--bogus'], "error: unknown option '--bogus'\n"],
  ] as [string[], string][]) {
    const r = toa('agent', ...args);
    assert.is(r.code, 2, `${args}: ${r.stderr}`);
    assert.is(r.stderr, err);
  }
});

test('a port already taken: exit 1 naming the flag', () => {
  const r = spawnSync(
    'unshare',
    [
      '--net',
      'sh',
      '-c',
      `ip link set lo up && ${process.execPath} -e "require('net').createServer().listen(9101);setTimeout(process.exit,3000)" >/dev/null 2>&1 & sleep 1; exec "$@"`,
      'sh',
      process.execPath,
      ...CLI,
      'agent',
      '--metrics-port=9101',
      '--prebuilt-only',
      `--prebuilt-dir=${empty}`,
    ],
    { encoding: 'utf8', timeout: 60000 },
  );
  assert.is(r.status, 1, r.stderr);
  assert.match(r.stderr, 'toa agent: --metrics-port 9101: EADDRINUSE; pick a free port\n');
});

test('no fitting module: /healthz 200, /readyz 503 with the reason, /metrics says failed; a bad config is refused and counted; SIGTERM exits 0', async () => {
  const v = configMapVolume(join(tmp, 'cm1'), '{"trust": ["198.51.100.0/24"]}');
  const a = startAgent([
    `--config=${v.path}`,
    '--prebuilt-only',
    `--prebuilt-dir=${empty}`,
    `--state-dir=${join(tmp, 'state')}`,
  ]);
  try {
    const why = `no usable toa.ko: no prebuilt module for ${release()} (${join(empty, release(), 'toa.ko')}), and building is off (--prebuilt-only): ship a toa.ko for ${release()} in the image's prebuilt directory`;
    await a.waitLog(`not ready: ${why}`);
    assert.equal(a.get('/healthz'), [200, 'ok']);
    assert.equal(a.get('/readyz'), [503, `not ready: ${why}`]);
    let [code, metrics] = a.get('/metrics');
    assert.is(code, 200);
    for (const line of [
      'toa_module_source{source="failed",node="node-a"} 1',
      'toa_module_source{source="prebuilt",node="node-a"} 0',
      'toa_module_loaded{node="node-a"} 0',
      'toa_agent_ready{node="node-a"} 0',
      'toa_config_errors_total{node="node-a"} 0',
    ])
      assert.match(metrics, line);
    assert.equal(a.get('/nope'), [404, 'not found: /healthz, /readyz, /metrics']);
    v.swap('{"trust": [], "formats": ["254/8"]}');
    await a.waitLog('config: refused, the previous stays (trust 198.51.100.0/24, formats 254/8,254/20)');
    assert.match(a.log(), 'config: an empty trust list would trust any source');
    [code, metrics] = a.get('/metrics');
    assert.match(metrics, 'toa_config_errors_total{node="node-a"} 1');
    a.child.kill('SIGTERM');
    assert.is(await a.exit, 0, a.log());
    assert.match(a.log(), / stopping \(SIGTERM\)\n.* stopped\n$/);
  } finally {
    a.child.kill('SIGKILL');
  }
});

test('no valid config at start: not ready and nothing loaded until a valid one arrives', async () => {
  const v = configMapVolume(join(tmp, 'cm2'), '{"trust": ["EDIT-ME"]}');
  const a = startAgent([`--config=${v.path}`, '--prebuilt-only', `--prebuilt-dir=${empty}`]);
  try {
    await a.waitLog('not ready: no valid config, toa.ko not loaded');
    const [code, body] = a.get('/readyz');
    assert.is(code, 503);
    assert.match(
      body,
      `not ready: no valid config, toa.ko not loaded (a module without a trust list trusts every source): ${v.path}: config: trust is still the placeholder EDIT-ME`,
    );
    assert.not.match(a.log(), 'module:');
    v.swap('{"trust": "any"}');
    await a.waitLog('config: trust any source, formats 254/8,254/20');
    await a.waitLog('not ready: no usable toa.ko');
    a.child.kill('SIGINT');
    assert.is(await a.exit, 0, a.log());
  } finally {
    a.child.kill('SIGKILL');
  }
});

test.run();
