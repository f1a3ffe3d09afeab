// Runs inside a lab guest (test/vm/boot.sh): originalPeer() against toa.ko's getsockopt, through
// the addon and through ffi-rs, on AF_INET, AF_INET6 and dual-stack listeners. The TUN peer plays
// the load balancer; test/guest/binding-server.ts is the app and reports what each path answered.
import { type ChildProcess, spawn } from 'node:child_process';
import net from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Diagnosis } from '../../src/binding/diagnose.js';
import type { OriginalPeer } from '../../src/binding/index.js';
import {
  type Connection,
  connect,
  createNetns,
  deleteNetns,
  inNetns,
  moveLink,
  openTun,
  type Tun,
} from '../../src/lab/index.js';
import { encodeOptions, encodeToa, type FormatName } from '../../src/wire/index.js';
import { CLIENT4, CLIENT6, ko, LB4, LB6, run, SERVER4, SERVER6 } from './lab.js';

const PORTS = { v4: 8180, v6: 8181, dual: 8182 };
const EINVAL = 22;

interface PathAnswers {
  fd: unknown;
  ipv6Level: unknown;
  ipLevel: unknown;
  shortLen: number;
}
interface Answer {
  ev: string;
  remotePort: number;
  localPort?: number;
  kind?: string;
  cached?: boolean;
  peer?: OriginalPeer | null;
  addon: PathAnswers;
  ffi: PathAnswers;
  after?: unknown;
}

let tun: Tun;
let ns: string;
let app: ChildProcess;
const answers: Answer[] = [];
const waiters = new Set<() => void>();
let lbPort = 41000;
let clientPort = 51000;

function waitFor(match: (a: Answer) => boolean, timeoutMs = 15000): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const check = () => {
      const a = answers.find(match);
      if (!a) return false;
      clearTimeout(timer);
      waiters.delete(check as () => void);
      resolve(a);
      return true;
    };
    const timer = setTimeout(() => {
      waiters.delete(check as () => void);
      reject(new Error(`binding-server answer not seen within ${timeoutMs} ms`));
    }, timeoutMs);
    if (!check()) waiters.add(check as () => void);
  });
}

const load = () => {
  unload();
  run('insmod', ko);
};
const unload = () => {
  try {
    run('rmmod', 'toa');
  } catch {
    // not loaded
  }
};

async function through(
  port: number,
  o: { from?: string; format?: FormatName; client?: string; where?: 'ack' | 'data' } = {},
): Promise<{ a: Answer; c: Connection; toaPort: number }> {
  const from = o.from ?? (port === PORTS.v6 ? LB6 : LB4);
  const toaPort = clientPort++;
  const options =
    o.format && o.client
      ? encodeOptions([encodeToa({ format: o.format, address: o.client, port: toaPort })])
      : undefined;
  const where = o.where ?? 'ack';
  const c = await connect({
    tun,
    src: { address: from, port: lbPort++ },
    dst: { address: from.includes(':') ? SERVER6 : SERVER4, port },
    ...(options && where === 'ack' ? { ackOptions: options } : {}),
    ...(options && where === 'data' ? { dropAck: true, dataOptions: options } : {}),
  });
  if (where === 'data') await c.send('hello');
  const ports = [c.src.port, toaPort];
  const a = await waitFor(
    (x) => x.ev === 'connection' && x.localPort === port && ports.includes(x.remotePort),
  );
  return { a, c, toaPort };
}

/** Every path (addon/ffi-rs, by socket (originalPeer) and by fd, both levels, cached) gave `expected`. */
function allSay(a: Answer, expected: OriginalPeer): void {
  assert.is(a.kind, 'addon', 'the addon built on the host is what loads by default');
  assert.equal(a.peer, expected, 'originalPeer(socket)');
  assert.ok(a.cached, 'a second call returns the cached answer');
  for (const kind of ['addon', 'ffi'] as const) {
    const p = a[kind];
    assert.equal(p.fd, expected, `${kind} by fd`);
    assert.equal(p.ipLevel, expected, `${kind} at IPPROTO_IP`);
    if (p.ipv6Level !== null) assert.equal(p.ipv6Level, expected, `${kind} at IPPROTO_IPV6`);
  }
}

test.before(async () => {
  assert.ok(ko, 'TOA_KO is unset: run the guest tests through test/vm/boot.sh');
  tun = openTun();
  ns = await createNetns();
  await moveLink(tun.name, ns, { addresses: [`${SERVER4}/24`, `${SERVER6}/64`] });
  const [cmd = 'ip', ...args] = inNetns(ns, [
    process.execPath,
    '--import',
    'tsx',
    'test/guest/binding-server.ts',
    JSON.stringify(PORTS),
  ]);
  app = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  createInterface({ input: app.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    answers.push(JSON.parse(line) as Answer);
    for (const w of [...waiters]) w();
  });
  await waitFor((a) => a.ev === 'listening', 60000);
  load();
});

test.after(async () => {
  app?.stdin?.end();
  app?.kill();
  await tun?.close();
  if (ns) await deleteNetns(ns);
  unload();
});

test('toa doctor: toa.ko loaded, its lookup answers (ENOENT on loopback), the addon, exit 0', () => {
  const out = run(process.execPath, '--import', 'tsx', 'src/cli/main.ts', 'doctor', '--json');
  const d = JSON.parse(out) as Diagnosis;
  assert.is(d.binding.kind, 'addon');
  assert.ok(d.module.loaded && d.module.version, 'doctor reads /sys/module/toa/version');
  assert.is(d.lookup.errno, 2);
  assert.ok(d.lookup.answers, d.lookup.text);
  assert.is(d.lookup.peerVia, 'peer');
  assert.equal(d.warnings, []);
  assert.ok(d.ok);
});

const cases: [string, number, FormatName, string, string, 'IPv4' | 'IPv6'][] = [
  ['IPv4 client, AF_INET listener', PORTS.v4, '254/8', CLIENT4, LB4, 'IPv4'],
  ['IPv6 client, AF_INET6 listener', PORTS.v6, '254/20', CLIENT6, LB6, 'IPv6'],
  ['v4-mapped: IPv4 client to a dual-stack ::', PORTS.dual, '254/8', CLIENT4, `::ffff:${LB4}`, 'IPv6'],
  ['NAT64: IPv6 client, AF_INET listener', PORTS.v4, '254/20', CLIENT6, LB4, 'IPv4'],
  ['NAT64: IPv6 client, dual-stack :: listener', PORTS.dual, '254/20', CLIENT6, `::ffff:${LB4}`, 'IPv6'],
];
for (const [name, port, format, client, lb, lbFamily] of cases) {
  test(`${name}: every path returns the TOA client and the LB`, async () => {
    const { a, c, toaPort } = await through(port, { format, client });
    allSay(a, {
      address: client,
      port: toaPort,
      family: client.includes(':') ? 'IPv6' : 'IPv4',
      via: 'toa',
      lb: { address: lb, port: c.src.port, family: lbFamily },
      format,
      seenIn: 'ack',
    });
    assert.is(a.addon.shortLen, -EINVAL, 'a short optlen is EINVAL');
    assert.is(a.ffi.shortLen, -EINVAL);
    c.abort();
  });
}

test('TOA in the first data segment: seenIn is data', async () => {
  const { a, c, toaPort } = await through(PORTS.v4, { format: '254/8', client: CLIENT4, where: 'data' });
  allSay(a, {
    address: CLIENT4,
    port: toaPort,
    family: 'IPv4',
    via: 'toa',
    lb: { address: LB4, port: c.src.port, family: 'IPv4' },
    format: '254/8',
    seenIn: 'data',
  });
  c.abort();
});

test('no TOA: via peer, the raw peer, on every listener', async () => {
  for (const [port, lb, family] of [
    [PORTS.v4, LB4, 'IPv4'],
    [PORTS.v6, LB6, 'IPv6'],
    [PORTS.dual, `::ffff:${LB4}`, 'IPv6'],
  ] as const) {
    const { a, c } = await through(port);
    allSay(a, { address: lb, port: c.src.port, family, via: 'peer' });
    c.abort();
  }
});

test('a closed socket: a clear error, not a stale answer', async () => {
  const { c } = await through(PORTS.v4, { format: '254/8', client: CLIENT4 });
  const lb = c.src.port;
  c.abort();
  const closed = await waitFor((x) => x.ev === 'closed' && [lb, clientPort - 1].includes(x.remotePort));
  assert.match(String((closed.after as { error?: string }).error), /closed or destroyed/);
});

test('toa.ko not loaded (ENOPROTOOPT): via peer, never an error; loaded again, seen after the 1 s window', async () => {
  unload();
  try {
    const { a, c } = await through(PORTS.v4, { format: '254/8', client: CLIENT4 });
    allSay(a, { address: LB4, port: c.src.port, family: 'IPv4', via: 'peer' });
    c.abort();
  } finally {
    load();
  }
  await new Promise((r) => setTimeout(r, 1100)); // ABSENT_MS, then getsockopt probes again
  const { a, c } = await through(PORTS.v4, { format: '254/8', client: CLIENT4 });
  for (const kind of ['addon', 'ffi'] as const) assert.is((a[kind].fd as OriginalPeer).via, 'toa', kind);
  c.abort();
});

test('rmmod while getsockopt(TOA_SO_GET_PEER) runs in a loop: no BUG/WARNING/Oops, the lookup comes back', async () => {
  const logBefore = run('dmesg');
  const bin = '/tmp/toa-bind-syscall';
  run('cc', '-O2', '-pthread', '-o', bin, join(process.cwd(), 'test/bench/syscall.c'));
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  const s = await accepted;
  const fd = (s as unknown as { _handle: { fd: number } })._handle.fd;
  const hammer = spawn(bin, ['1', '100000000'], { stdio: ['ignore', 'pipe', 'inherit', fd] });
  let cycles = 0;
  let busy = 0;
  for (let i = 0; i < 40; i++) {
    try {
      run('rmmod', 'toa');
    } catch {
      busy++; // a caller inside the handler holds a module reference: EBUSY, try again
      continue;
    }
    cycles++;
    run('insmod', ko);
  }
  assert.is(hammer.exitCode, null, 'the getsockopt loop ran through every rmmod');
  hammer.kill();
  console.log(`  rmmod under getsockopt load: ${cycles} unloads, ${busy} EBUSY`);
  client.destroy();
  s.destroy();
  server.close();
  assert.ok(cycles > 0, `rmmod never succeeded (${busy} times busy)`);
  const fresh = run('dmesg').slice(logBefore.length);
  const bad = fresh.split('\n').filter((line) => /\b(BUG|WARNING|Oops)\b/.test(line));
  assert.equal(bad, [], `kernel log:\n${fresh}`);
  const { a, c, toaPort } = await through(PORTS.v4, { format: '254/8', client: CLIENT4 });
  assert.is(a.addon.fd && (a.addon.fd as OriginalPeer).port, toaPort);
  c.abort();
});

test.run();
