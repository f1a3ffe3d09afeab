// Live capture: `toa inspect -i` inside a fresh network namespace, watching the lab peer (a TUN in
// that namespace) open connections to a Node server with and without TOA. Traffic never leaves the
// namespace. Skipped without root, /dev/net/tun or a built `cap`.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  type ConnectOptions,
  connect,
  createNetns,
  deleteNetns,
  inNetns,
  moveLink,
  openTun,
  type Server,
  startServer,
  type Tun,
} from '../../src/lab/index.js';
import { encodeOptions, encodeToa } from '../../src/wire/index.js';

const ROOT = join(import.meta.dirname, '..', '..');
const PORT = 8080;

function missing(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root';
  if (!existsSync('/dev/net/tun')) return 'no /dev/net/tun';
  try {
    createRequire(import.meta.url)('cap');
  } catch {
    return 'the optional package cap is not built';
  }
  return undefined;
}

const why = missing();
if (why) console.log(`inspect-live: skipped (${why})`);
const live = why ? test.skip : test;

let tun: Tun;
let ns: string;
let server: Server;

if (!why) {
  test.before(async () => {
    tun = openTun();
    ns = await createNetns();
    await moveLink(tun.name, ns, {
      addresses: ['198.51.100.1/24', '2001:db8:1::1/64'],
      routes: ['203.0.113.0/24', '2001:db8:2::/64'],
    });
    server = await startServer({
      netns: ns,
      listen: [
        { host: '0.0.0.0', port: PORT },
        { host: '::', port: PORT },
      ],
      echo: true,
    });
  });

  test.after(async () => {
    await server?.stop();
    await tun?.close();
    if (ns) await deleteNetns(ns);
  });
}

interface Run {
  child: ChildProcess;
  stdout: string;
  stderr: string;
  exit: Promise<number | null>;
}

function inspector(args: string[]): Run {
  const [cmd = 'ip', ...rest] = inNetns(ns, [
    process.execPath,
    '--import',
    'tsx',
    'src/cli/main.ts',
    'inspect',
    ...args,
  ]);
  const child = spawn(cmd, rest, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const run: Run = {
    child,
    stdout: '',
    stderr: '',
    exit: new Promise((r) => child.on('close', (code) => r(code))),
  };
  child.stdout?.on('data', (d) => {
    run.stdout += d;
  });
  child.stderr?.on('data', (d) => {
    run.stderr += d;
  });
  return run;
}

async function until(what: () => boolean, label: () => string, ms = 15000): Promise<void> {
  const end = Date.now() + ms;
  while (!what()) {
    if (Date.now() > end) throw new Error(`timed out waiting: ${label()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Capture live on the TUN (--json, --expect-toa) while the peer opens one connection with the
 * given TOA options and one without, from `peer` ports `ports`; returns the JSON lines and exit code.
 */
async function captureTwo(
  peer: string,
  server: string,
  ports: [number, number],
  toaOptions: Partial<ConnectOptions>,
): Promise<{ conns: ReturnType<typeof JSON.parse>[]; code: number | null; stderr: string }> {
  const run = inspector([
    '-i',
    tun.name,
    '--json',
    '--expect-toa',
    String(PORT),
    '--filter',
    `tcp port ${PORT}`,
  ]);
  await until(
    () => run.stderr.includes('capturing on'),
    () => run.stderr,
  );
  for (const [port, extra] of [
    [ports[0], toaOptions],
    [ports[1], {}],
  ] as const) {
    const c = await connect({
      tun,
      src: { address: peer, port },
      dst: { address: server, port: PORT },
      ...extra,
    });
    await c.send('hello');
    await c.close();
  }
  await until(
    () => run.stdout.trim().split('\n').filter(Boolean).length >= 2,
    () => `stdout: ${run.stdout} stderr: ${run.stderr}`,
  );
  run.child.kill('SIGINT');
  const code = await run.exit;
  const conns = run.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  return { conns, code, stderr: run.stderr };
}

live('live capture on the TUN: one connection with TOA, one without; --expect-toa exits 1', async () => {
  const toa = encodeOptions([encodeToa({ format: '254/8', address: '203.0.113.7', port: 4242 })]);
  const { conns, code, stderr } = await captureTwo('198.51.100.2', '198.51.100.1', [40001, 40002], {
    ackOptions: toa,
    dataOptions: toa,
  });
  assert.equal(
    conns.map((c) => [c.lbPort, c.outcome, c.toa?.address ?? null, c.toa?.port ?? null, c.toaIn]),
    [
      [40001, 'established', '203.0.113.7', 4242, ['ack', 'data']],
      [40002, 'established', null, null, []],
    ],
  );
  assert.equal(conns[1].anomalies[0].kind, 'no-toa');
  assert.is(code, 1, stderr);
});

live('live capture on the TUN, IPv6: TOA (254/20) in the first data, and one without TOA', async () => {
  const toa = encodeOptions([encodeToa({ format: '254/20', address: '2001:db8:2::7', port: 4343 })]);
  const { conns, code, stderr } = await captureTwo('2001:db8:1::2', '2001:db8:1::1', [40011, 40012], {
    dropAck: true,
    dataOptions: toa,
  });
  assert.equal(
    conns.map((c) => [
      c.family,
      c.lb,
      c.lbPort,
      c.backend,
      c.outcome,
      c.toa?.format ?? null,
      c.toa?.address ?? null,
      c.toa?.port ?? null,
      c.toaIn,
      c.anomalies.map((a: { kind: string }) => a.kind),
    ]),
    [
      [
        6,
        '2001:db8:1::2',
        40011,
        '2001:db8:1::1',
        'established',
        '254/20',
        '2001:db8:2::7',
        4343,
        ['data'],
        [],
      ],
      [6, '2001:db8:1::2', 40012, '2001:db8:1::1', 'established', null, null, null, [], ['no-toa']],
    ],
  );
  assert.is(code, 1, stderr);
});

live('live: a missing interface and a BPF syntax error are one line and exit 2', async () => {
  const noIface = inspector(['-i', 'nosuch0']);
  assert.is(await noIface.exit, 2);
  assert.match(noIface.stderr, /^toa inspect: no interface nosuch0 here \(libpcap sees: [^\n]*\)\n$/);
  const badBpf = inspector(['-i', tun.name, '--filter', 'tcp and and']);
  assert.is(await badBpf.exit, 2);
  assert.match(badBpf.stderr, /^toa inspect: [^\n]*syntax error \(filter: tcp and and\)\n$/);
});

live('live: --count stops after n packets and prints the summary', async () => {
  const run = inspector(['-i', tun.name, '--count', '3', '--summary', '--json']);
  await until(
    () => run.stderr.includes('capturing on'),
    () => run.stderr,
  );
  const c = await connect({
    tun,
    src: { address: '198.51.100.2', port: 40003 },
    dst: { address: '198.51.100.1', port: PORT },
  });
  await c.send('x');
  assert.is(await run.exit, 0, run.stderr);
  const s = JSON.parse(run.stdout);
  assert.is(s.packets, 3);
  await c.close();
});

test.run();
