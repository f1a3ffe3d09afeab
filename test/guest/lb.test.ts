// Runs inside a lab guest (test/vm/boot.sh): the lab FullNAT load balancer between real clients
// (curl in a client namespace, several source addresses) and Node HTTP servers in two backend
// namespaces. With toa.ko loaded the servers see each client's address and port; without it, the
// LB's local address and the port it chose.
import { execFile, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { curl } from '../../src/lab/curl.js';
import type { NatEntry } from '../../src/lab/lb.js';
import { type RunningLb, startLb } from '../../src/lab/lb-run.js';
import { createNetns, deleteNetns } from '../../src/lab/netns.js';
import { patternBytes, type Seen, startWhoami, type Whoami } from '../../src/lab/whoami.js';
import { addressToText } from '../../src/wire/index.js';

const ko = process.env.TOA_KO ?? '';
const VIP4 = '203.0.113.1';
const VIP6 = '2001:db8:c::1';
const LOCAL4 = '198.51.100.1';
const LOCAL6 = '2001:db8:b::1';
const CLIENTS4 = ['203.0.113.20', '203.0.113.21', '203.0.113.22'];
const CLIENT6 = '2001:db8:c::20';
const MB = 1 << 20;

let client: string;
let b1: string;
let b2: string;
let run: RunningLb;
let servers: Whoami[] = [];
const opened = new Map<string, NatEntry>();

const exec = promisify(execFile);
const sh = (cmd: string, ...args: string[]) => execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
const unmapped = (a: string) => a.replace(/^::ffff:/, '');

function unload(): void {
  try {
    sh('rmmod', 'toa');
  } catch {
    // not loaded
  }
}

function toaStat(name: string): number {
  const line = readFileSync('/proc/net/toa_stats', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${name} `));
  if (!line) throw new Error(`no ${name} in /proc/net/toa_stats`);
  return Number(line.split(' ')[1]);
}

/** One request from `from`; what the client used and what the backend saw. */
async function ask(from: string, path = '/', upload?: Buffer) {
  const vip = from.includes(':') ? `[${VIP6}]` : VIP4;
  const r = await curl({ netns: client, from, url: `http://${vip}${path}`, ...(upload ? { upload } : {}) });
  assert.is(r.status, 200, `HTTP status from ${from}`);
  const entry = opened.get(`${r.localIp}:${r.localPort}`);
  const local = from.includes(':') ? LOCAL6 : LOCAL4;
  // The request line is printed before the response is sent, so it is there once curl is done.
  const seen = servers
    .flatMap((s) => s.requests)
    .find(
      (s) =>
        s.url === path &&
        ((unmapped(s.remoteAddress) === r.localIp && s.remotePort === r.localPort) ||
          (unmapped(s.remoteAddress) === local && s.remotePort === entry?.localPort)),
    );
  if (!seen) throw new Error(`no backend logged the request of ${r.localIp}:${r.localPort}`);
  return { r, seen, entry };
}

function expectClient(seen: Seen, ip: string, port: number): void {
  assert.is(unmapped(seen.remoteAddress), ip, `${seen.backend} saw the client's address`);
  assert.is(seen.remotePort, port, `${seen.backend} saw the client's port`);
}

test.before(async () => {
  assert.ok(ko, 'TOA_KO is unset: run the guest tests through test/vm/boot.sh');
  client = await createNetns();
  b1 = await createNetns();
  b2 = await createNetns();
  run = await startLb({
    vips: [
      { address: VIP4, port: 80 },
      { address: VIP6, port: 80 },
    ],
    backends: [
      { address: '198.51.100.10', port: 8080 },
      { address: '198.51.100.11', port: 8080 },
      { address: '2001:db8:b::10', port: 8080 },
    ],
    backendNetns: [b1, b2, b1],
    locals: [LOCAL4, LOCAL6],
    clientNetns: client,
    clientAddrs: [...CLIENTS4.map((c) => `${c}/24`), `${CLIENT6}/64`],
    timeouts: { closedMs: 500 },
    sweepMs: 100,
    onEvent: (e) => {
      if (e.kind === 'open') opened.set(`${addressToText(e.entry.client)}:${e.entry.clientPort}`, e.entry);
    },
  });
  servers = await Promise.all([
    startWhoami({ netns: b1, name: 'b1', port: 8080 }),
    startWhoami({ netns: b2, name: 'b2', port: 8080 }),
  ]);
  unload();
  sh('insmod', ko);
});

test.after(async () => {
  unload();
  await Promise.all(servers.map((s) => s.stop()));
  await run?.stop();
  for (const ns of [client, b1, b2]) if (ns) await deleteNetns(ns);
});

test('with toa.ko: three client addresses, two backends; each sees the client ip:port', async () => {
  const before = toaStat('toa_v4');
  const backends = new Set<string>();
  for (const from of [...CLIENTS4, ...CLIENTS4]) {
    const { r, seen } = await ask(from);
    assert.is(r.localIp, from);
    expectClient(seen, from, r.localPort);
    backends.add(seen.backend);
  }
  assert.equal([...backends].sort(), ['b1', 'b2']);
  assert.ok(toaStat('toa_v4') - before >= 6, 'the module counted a TOA per connection');
  assert.ok(run.lb.stats.toaInserted >= 6);
});

test('with toa.ko: an IPv6 client (254/20) is seen as itself', async () => {
  const { r, seen } = await ask(CLIENT6);
  assert.is(r.localIp, CLIENT6);
  expectClient(seen, CLIENT6, r.localPort);
});

test('1 MB each way through the LB: bytes intact, the client seen', async () => {
  const down = await ask(CLIENTS4[0] as string, `/bytes/${MB}`);
  assert.is(down.r.body.length, MB);
  assert.ok(down.r.body.equals(patternBytes(MB)), 'the 1 MB response arrived intact');
  expectClient(down.seen, CLIENTS4[0] as string, down.r.localPort);
  const body = patternBytes(MB).reverse();
  const up = await ask(CLIENTS4[1] as string, '/', body);
  assert.is(up.seen.bytes, MB);
  assert.is(
    up.seen.sha256,
    createHash('sha256').update(body).digest('hex'),
    'the 1 MB upload arrived intact',
  );
  expectClient(up.seen, CLIENTS4[1] as string, up.r.localPort);
  assert.is(run.lb.stats.dropped.checksum, 0);
  assert.is(run.writeErrors, 0);
});

test('without toa.ko: the backends see the LB local address and the port it chose', async () => {
  unload();
  for (const from of CLIENTS4) {
    const { r, seen, entry } = await ask(from);
    assert.ok(entry, `the LB opened an entry for ${r.localIp}:${r.localPort}`);
    assert.is(unmapped(seen.remoteAddress), LOCAL4);
    assert.is(seen.remotePort, entry?.localPort);
  }
  const six = await ask(CLIENT6);
  assert.is(six.seen.remoteAddress, LOCAL6);
  sh('insmod', ko);
});

// Sends a POST of n bytes in one write from `from`: the first data segment is full-sized and,
// the backend having sent nothing yet, carries the TOA. Prints its local port, then the status line.
const FULL_CLIENT = `
const [host, from, n] = process.argv.slice(1);
const head = 'POST /full HTTP/1.1\\r\\nHost: lab\\r\\nConnection: close\\r\\nContent-Length: ' + n + '\\r\\n\\r\\n';
const s = require('node:net').connect({ host, port: 80, localAddress: from }, () => {
  console.log(String(s.localPort));
  s.write(Buffer.concat([Buffer.from(head), Buffer.alloc(Number(n), 7)]));
});
let reply = '';
s.on('data', (d) => { reply += d; });
s.on('end', () => console.log(reply.split('\\r\\n')[0]));
`;

test('a full-sized first data segment carries the TOA and still fits the 1500-byte MTU', async () => {
  const from = CLIENTS4[2] as string;
  // Not execFileSync: the LB runs in this process's event loop.
  const { stdout } = await exec('ip', [
    'netns',
    'exec',
    client,
    process.execPath,
    '-e',
    FULL_CLIENT,
    VIP4,
    from,
    '65536',
  ]);
  const out = stdout.trim().split('\n');
  assert.is(out[1], 'HTTP/1.1 200 OK');
  const port = Number(out[0]);
  const seen = servers.flatMap((s) => s.requests).find((s) => s.url === '/full' && s.remotePort === port);
  assert.ok(seen, 'the backend logged the POST under the client port');
  expectClient(seen as Seen, from, port);
  assert.is(seen?.bytes, 65536);
  // 20 IP + 20 TCP + 12 timestamps + 8 TOA + 1440 payload: the SYN-ACK's 1460 lowered to 1452
  // made room; without it this segment would be 1508 bytes.
  assert.is(run.largest.backend, 1500, 'the largest packet towards a backend is exactly the MTU');
});

test('closed connections leave the table and free their ports', async () => {
  await new Promise((res) => setTimeout(res, 1500));
  const left = run.lb.entries();
  assert.equal(
    left.map((e) => e.state),
    [],
    'every connection ended with FIN both ways and expired',
  );
  assert.is(run.lb.stats.closed, run.lb.stats.opened);
});

test('toa lab lb, the CLI: serves a client, logs the connection, removes its devices on SIGTERM', async () => {
  const c2 = await createNetns();
  const b3 = await createNetns();
  const server = await startWhoami({ netns: b3, name: 'b3', port: 8080 });
  const args = ['--vip', `${VIP4}:80`, '--backend', `198.51.100.10:8080@${b3}`, '--local', LOCAL4];
  args.push('--client-netns', c2, '--client-addr', '203.0.113.30/24', '--client-dev', 'toaclitest', '--log');
  const lb = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'lab', 'lb', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  lb.stderr.on('data', (d) => {
    stderr += d;
  });
  const exited = new Promise<number | null>((res) => lb.on('close', res));
  const lines: string[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`not ready in 60 s; stderr: ${stderr}`)), 60_000);
      lb.on('close', () => reject(new Error(`exited before ready; stderr: ${stderr}`)));
      createInterface({ input: lb.stdout }).on('line', (line) => {
        lines.push(line);
        if (line.startsWith('ready:')) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    assert.match(
      lines[0] ?? '',
      new RegExp(`^ready: clients on toaclitest \\(${c2}\\), backends on toalbb\\d+ \\(${b3}\\)$`),
    );
    const r = await curl({ netns: c2, from: '203.0.113.30', url: `http://${VIP4}/` });
    const seen = JSON.parse(r.body.toString()) as Seen;
    expectClient(seen, '203.0.113.30', r.localPort);
    assert.ok(
      lines.includes(
        `open  203.0.113.30:${r.localPort} -> ${VIP4}:80 = ${LOCAL4}:1024 -> 198.51.100.10:8080`,
      ),
      lines.join('\n'),
    );
  } finally {
    lb.kill('SIGTERM');
    assert.is(await exited, 0, stderr);
    await server.stop();
  }
  assert.match(stderr, /^toa lab lb: 1 connections, TOA in 2 segments \(\+0 bare ACKs\), dropped: /);
  assert.not.match((await exec('ip', ['-n', c2, 'link'])).stdout, /toaclitest/, 'the client device is gone');
  await deleteNetns(c2);
  await deleteNetns(b3);
});

test.run();
