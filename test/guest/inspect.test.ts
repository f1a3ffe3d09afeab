// Runs inside a lab guest (test/vm/boot.sh): `toa inspect -i` on the lab peer's TUN inside a fresh
// network namespace (198.51.100.0/24 and 2001:db8::/32 only) while the peer opens IPv4 and IPv6
// connections to a Node server: TOA in the bare ACK, in the first data (dropAck), in the SYN, a
// malformed block, none. The live --json lines are checked per connection, then `toa inspect -r`
// on the capture it wrote (-w) must report the same connections. Needs the optional package cap:
// when it is built on the host but cannot be loaded here, the test fails and says why.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
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
  recvBytes,
  type Server,
  startServer,
  type Tun,
} from '../../src/lab/index.js';
import { encodeOptions, encodeToa, mssOption } from '../../src/wire/index.js';

const ROOT = join(import.meta.dirname, '..', '..');
const PORT = 8080;
const V4 = { peer: '198.51.100.2', server: '198.51.100.1' };
const V6 = { peer: '2001:db8:1::2', server: '2001:db8:1::1' };
// Live capture stops by itself after this many seconds from its start (--duration).
const DURATION = 40;

// The cap addon is built on the host (npm install) or not at all; the guest runs the host's
// node_modules, so a cap that is built but does not load here is a failure, not a skip.
const CAP_BUILT = existsSync(join(ROOT, 'node_modules', 'cap', 'build', 'Release', 'cap.node'));
function capError(): string | undefined {
  try {
    createRequire(import.meta.url)('cap');
    return undefined;
  } catch (e) {
    return (e as Error).message.split('\n')[0];
  }
}
if (!CAP_BUILT) console.log('inspect (guest): skipped (the optional package cap is not built on the host)');
const live = CAP_BUILT ? test : test.skip;

let tun: Tun;
let ns: string;
let server: Server;
let dir: string;

if (CAP_BUILT) {
  test.before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'toa-inspect-'));
    tun = openTun();
    ns = await createNetns();
    await moveLink(tun.name, ns, { addresses: ['198.51.100.1/24', '2001:db8:1::1/64'] });
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
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
}

interface Run {
  child: ChildProcess;
  stdout: string;
  stderr: string;
  exit: Promise<number | null>;
}

/** `toa inspect ARGS` from the repo, inside the namespace when netns is given. */
function inspector(args: string[], netns?: string): Run {
  const argv = [process.execPath, '--import', 'tsx', 'src/cli/main.ts', 'inspect', ...args];
  const [cmd = 'ip', ...rest] = netns ? inNetns(netns, argv) : argv;
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

// Node starts slowly under TCG emulation: be patient, but never hang the whole lab.
async function until(what: () => boolean, label: () => string, ms = 90_000): Promise<void> {
  const end = Date.now() + ms;
  while (!what()) {
    if (Date.now() > end) throw new Error(`timed out waiting: ${label()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function exitOf(run: Run, ms: number): Promise<number | null> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      run.child.kill('SIGKILL');
      reject(new Error(`toa inspect did not exit within ${ms} ms; stderr: ${run.stderr}`));
    }, ms);
  });
  try {
    return await Promise.race([run.exit, late]);
  } finally {
    clearTimeout(timer);
  }
}

const lines = (s: string) =>
  s
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Conn);

interface Conn {
  id: number;
  frame: number;
  family: number;
  lb: string;
  lbPort: number;
  backend: string;
  backendPort: number;
  outcome: string;
  toa: { format: string; family: number; address: string; port: number | null } | null;
  toaIn: string[];
  anomalies: { kind: string; severity: string; segment: string | null; reason: string }[];
}

const toa4 = (port: number) =>
  encodeOptions([encodeToa({ format: '254/8', address: '198.51.100.77', port })]);
const toa6 = (port: number) =>
  encodeOptions([encodeToa({ format: '254/20', address: '2001:db8:5::7', port })]);
// Kind 254, length 6: a port and half an address, which no TOA format has (toa-len).
const badToa = Uint8Array.of(254, 6, 0x1f, 0x90, 198, 51, 1, 1);

interface Case {
  name: string;
  fam: typeof V4;
  port: number;
  opts: Partial<ConnectOptions>;
  /** [family, format, address, port] of the TOA, or null. */
  toa: [number, string, string, number] | null;
  toaIn: string[];
  /** kind/segment/reason of each anomaly. */
  anomalies: string[];
}

const CASES: Case[] = [
  {
    name: 'IPv4, TOA in the ACK',
    fam: V4,
    port: 41001,
    opts: { ackOptions: toa4(4001) },
    toa: [4, '254/8', '198.51.100.77', 4001],
    toaIn: ['ack'],
    anomalies: [],
  },
  {
    name: 'IPv4, TOA in the first data (dropAck)',
    fam: V4,
    port: 41002,
    opts: { dropAck: true, dataOptions: toa4(4002) },
    toa: [4, '254/8', '198.51.100.77', 4002],
    toaIn: ['data'],
    anomalies: [],
  },
  {
    name: 'IPv4, TOA in the SYN',
    fam: V4,
    port: 41003,
    opts: { synOptions: Uint8Array.of(...mssOption(1400), ...toa4(4003)) },
    toa: [4, '254/8', '198.51.100.77', 4003],
    toaIn: ['syn'],
    anomalies: [],
  },
  {
    name: 'IPv4, a malformed TOA in the ACK',
    fam: V4,
    port: 41004,
    opts: { ackOptions: badToa },
    toa: null,
    toaIn: [],
    anomalies: ['malformed/ack/toa-len', 'no-toa/-/no-toa'],
  },
  {
    name: 'IPv4, no TOA',
    fam: V4,
    port: 41005,
    opts: {},
    toa: null,
    toaIn: [],
    anomalies: ['no-toa/-/no-toa'],
  },
  {
    name: 'IPv6, TOA in the ACK',
    fam: V6,
    port: 41006,
    opts: { ackOptions: toa6(4006) },
    toa: [6, '254/20', '2001:db8:5::7', 4006],
    toaIn: ['ack'],
    anomalies: [],
  },
  {
    name: 'IPv6, TOA in the first data (dropAck)',
    fam: V6,
    port: 41007,
    opts: { dropAck: true, dataOptions: toa6(4007) },
    toa: [6, '254/20', '2001:db8:5::7', 4007],
    toaIn: ['data'],
    anomalies: [],
  },
  {
    name: 'IPv6, TOA in the SYN',
    fam: V6,
    port: 41008,
    opts: { synOptions: Uint8Array.of(...mssOption(1400), ...toa6(4008)) },
    toa: [6, '254/20', '2001:db8:5::7', 4008],
    toaIn: ['syn'],
    anomalies: [],
  },
  {
    name: 'IPv6, no TOA',
    fam: V6,
    port: 41009,
    opts: {},
    toa: null,
    toaIn: [],
    anomalies: ['no-toa/-/no-toa'],
  },
];

/** What the test checks of a connection, in a form whose diff reads well. */
const view = (c: Conn) => ({
  family: c.family,
  lb: c.lb,
  backend: `${c.backend}:${c.backendPort}`,
  outcome: c.outcome,
  toa: c.toa ? [c.toa.family, c.toa.format, c.toa.address, c.toa.port] : null,
  toaIn: c.toaIn,
  anomalies: c.anomalies.map((a) => `${a.kind}/${a.segment ?? '-'}/${a.reason}`),
});
const expected = (k: Case) => ({
  family: k.fam === V4 ? 4 : 6,
  lb: k.fam.peer,
  backend: `${k.fam.server}:${PORT}`,
  outcome: 'established',
  toa: k.toa,
  toaIn: k.toaIn,
  anomalies: k.anomalies,
});
const byPort = (conns: Conn[]) => new Map(conns.map((c) => [c.lbPort, c]));

live('cap loads in the guest', () => {
  const err = capError();
  assert.ok(
    err === undefined,
    `the optional package cap is built on the host but does not load in the lab guest: ${err}`,
  );
});

live(
  'live capture of the TUN peer (IPv4 and IPv6, TOA in ACK/data/SYN, malformed, none), then -r on its -w capture',
  async () => {
    const err = capError();
    if (err) throw new Error(`cap does not load in the lab guest: ${err}`);
    const pcap = join(dir, 'live.pcap');
    const args = ['--json', '--expect-toa', String(PORT)];
    const run = inspector(
      ['-i', tun.name, ...args, '--filter', `tcp port ${PORT}`, '--duration', String(DURATION), '-w', pcap],
      ns,
    );
    await until(
      () => run.stderr.includes('capturing on'),
      () => `the capture to start; stderr: ${run.stderr}`,
    );
    const started = Date.now();

    for (const k of CASES) {
      const c = await connect({
        tun,
        src: { address: k.fam.peer, port: k.port },
        dst: { address: k.fam.server, port: PORT },
        ...k.opts,
      });
      await c.send(`hello ${k.port}`);
      assert.is(Buffer.from(await recvBytes(c, 11)).toString(), `hello ${k.port}`, k.name);
      await c.close();
    }
    // Every connection is reported at its first data segment, while the capture still runs.
    await until(
      () => run.stdout.trim().split('\n').filter(Boolean).length >= CASES.length,
      () => `${CASES.length} connections; stdout: ${run.stdout} stderr: ${run.stderr}`,
      Math.max(1000, started + DURATION * 1000 - Date.now()),
    );
    const code = await exitOf(run, DURATION * 1000 + 60_000);
    assert.is(code, 1, `--expect-toa with bad handshakes exits 1; stderr: ${run.stderr}`);

    const liveConns = lines(run.stdout);
    assert.is(liveConns.length, CASES.length, run.stdout);
    const got = byPort(liveConns);
    for (const k of CASES) {
      const c = got.get(k.port);
      assert.ok(c, `${k.name}: not reported live; stdout: ${run.stdout}`);
      assert.equal(view(c), expected(k), k.name);
    }
    assert.ok(statSync(pcap).size > 24, '-w wrote packets');

    // The written capture, read back: the same connections, field for field (the live frame
    // numbers count every captured packet, the file's only the written ones).
    const read = inspector(['-r', pcap, ...args]);
    assert.is(await exitOf(read, 90_000), 1, read.stderr);
    const fromFile = byPort(lines(read.stdout));
    assert.is(fromFile.size, CASES.length, read.stdout);
    for (const k of CASES) {
      const a = got.get(k.port) as Conn;
      const b = fromFile.get(k.port);
      assert.ok(b, `${k.name}: not in the -w capture; stdout: ${read.stdout}`);
      const { frame: _fa, id: _ia, ...restA } = a;
      const { frame: _fb, id: _ib, ...restB } = b;
      assert.equal(restB, restA, k.name);
    }
  },
);

test.run();
