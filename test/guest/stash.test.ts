import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  type Connection,
  connect,
  createNetns,
  deleteNetns,
  inNetns,
  moveLink,
  openTun,
  type Server,
  type ServerEvent,
  startServer,
  type Tun,
} from '../../src/lab/index.js';
import { encodeOptions, encodeToa, type FormatName } from '../../src/wire/index.js';
import {
  CLIENT4,
  CLIENT6,
  getParam,
  ko,
  LB4,
  LB6,
  run,
  SERVER4,
  SERVER6,
  setParam,
  stats,
  unload,
} from './lab.js';

const OTHER4 = '192.0.2.200';
const PORT4 = 8180; // 0.0.0.0, AF_INET
const PORT6 = 8181; // ::, IPv6 only
const DUAL = 8182; // ::, dual stack (Node's default)
const MSS = Uint8Array.of(2, 4, 0x05, 0xb4); // 1460

const inNs = (...argv: string[]) => run(...(inNetns(ns, argv) as [string, ...string[]]));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let tun: Tun;
let ns: string;
let server: Server;
let logBefore = '';
// LB source ports: distinct from the TOA ports, so a server event is found by either
let lbPort = 30000;
let toaPortNext = 52000;
const toaPort = () => toaPortNext++;

/** TcpExt counters of the server's namespace (SyncookiesSent, ...). */
function tcpExt(): Map<string, number> {
  const lines = inNs('cat', '/proc/net/netstat')
    .split('\n')
    .filter((l) => l.startsWith('TcpExt:'));
  const names = (lines[0] ?? '').split(' ').slice(1);
  const values = (lines[1] ?? '').split(' ').slice(1).map(Number);
  return new Map(names.map((n, i) => [n, values[i] ?? 0]));
}

/** Polls the stats until `ok` holds; the last snapshot either way. */
async function statsUntil(ok: (s: (name: string) => number) => boolean, ms = 5000) {
  const end = Date.now() + ms;
  let s = stats();
  while (!ok(s) && Date.now() < end) {
    await sleep(50);
    s = stats();
  }
  return s;
}

const toa = (format: FormatName, address: string, port: number) => encodeToa({ format, address, port });
const synWith = (option: Uint8Array) => encodeOptions([MSS, option]);

interface Syn {
  port: number;
  /** The SYN's TOA option (raw), sent after the MSS. */
  syn?: Uint8Array;
  /** The handshake-completing ACK's option block. */
  ack?: Uint8Array;
  /** Send no ACK: the handshake stays open until the test completes it (or resets it). */
  hold?: boolean;
  /** The load balancer's source port; default a fresh one. */
  srcPort?: number;
}

const lbFor = (port: number) => (port === PORT6 ? LB6 : LB4);

/** Open a connection through the "load balancer" that marks SYNs. */
function open(o: Syn): Promise<Connection> {
  const from = lbFor(o.port);
  return connect({
    tun,
    src: { address: from, port: o.srcPort ?? lbPort++ },
    dst: { address: from === LB6 ? SERVER6 : SERVER4, port: o.port },
    ...(o.syn ? { synOptions: synWith(o.syn) } : {}),
    ...(o.ack ? { ackOptions: o.ack } : {}),
    ...(o.hold ? { dropAck: true } : {}),
  });
}

/** What the server saw of connection `c` (found by its LB port or the TOA port). */
function seenBy(c: Connection, toaPortSent?: number): Promise<ServerEvent> {
  const ports = [c.src.port, toaPortSent ?? -1];
  return server.waitFor(
    (e) => e.ev === 'connection' && e.localPort === c.dst.port && ports.includes(e.remotePort ?? -1),
  );
}

test.before(async () => {
  assert.ok(ko, 'TOA_KO is unset: run the guest tests through test/vm/boot.sh');
  logBefore = run('dmesg');
  tun = openTun();
  ns = await createNetns();
  await moveLink(tun.name, ns, { addresses: ['198.51.100.1/24', '2001:db8:1::1/64'] });
  server = await startServer({
    netns: ns,
    listen: [
      { host: '0.0.0.0', port: PORT4 },
      { host: '::', port: PORT6 },
      { host: '::', port: DUAL, ipv6Only: false },
    ],
  });
  unload();
  run('insmod', ko);
});

test.after(async () => {
  await server?.stop();
  await tun?.close();
  if (ns) await deleteNetns(ns);
  unload();
});

test('parameters: stash_max 4096 and stash_ttl_ms 64000 by default; out of range refused', () => {
  assert.is(getParam('stash_max'), '4096');
  assert.is(getParam('stash_ttl_ms'), '64000');
  assert.throws(() => setParam('stash_max', '65537'));
  assert.throws(() => setParam('stash_ttl_ms', '0'));
  assert.throws(() => setParam('stash_ttl_ms', 'soon'));
  assert.is(getParam('stash_max'), '4096');
  assert.is(getParam('stash_ttl_ms'), '64000');
  assert.match(run('dmesg'), /stash_ttl_ms: 'soon' is out of range: give 1 to 600000/);
});

const cases: [string, number, FormatName, string, string][] = [
  ['IPv4 SYN TOA -> AF_INET', PORT4, '254/8', CLIENT4, CLIENT4],
  ['IPv6 SYN TOA -> AF_INET6', PORT6, '254/20', CLIENT6, CLIENT6],
  ['IPv4 SYN TOA -> dual-stack ::', DUAL, '254/8', CLIENT4, `::ffff:${CLIENT4}`],
];

for (const [name, port, format, client, expected] of cases) {
  test(`${name}: TOA in the SYN only, the server sees ${expected}; stashed once, taken once`, async () => {
    const before = stats();
    const p = toaPort();
    const c = await open({ port, syn: toa(format, client, p) });
    const seen = await seenBy(c, p);
    assert.is(seen.remoteAddress, expected);
    assert.is(seen.remotePort, p);
    const after = stats();
    assert.is(after('syn_stashed') - before('syn_stashed'), 1, 'one entry, even where two probes fire');
    assert.is(after('stash_hits') - before('stash_hits'), 1);
    assert.is(after('stash_entries'), 0, 'the entry went with the handshake');
    assert.is(
      after('segments_parsed') - before('segments_parsed'),
      1,
      'SYNs are not counted as handshake ends',
    );
    c.abort();
  });
}

test('stash_max=0 turns the stash off: a SYN-only TOA leaves the load balancer address', async () => {
  setParam('stash_max', '0');
  try {
    const before = stats();
    const p = toaPort();
    const c = await open({ port: PORT4, syn: toa('254/8', CLIENT4, p) });
    const seen = await seenBy(c, p);
    assert.is(seen.remoteAddress, LB4);
    assert.is(seen.remotePort, c.src.port);
    assert.is(stats()('syn_parsed'), before('syn_parsed'), 'SYNs are not even read');
    c.abort();
  } finally {
    setParam('stash_max', '4096');
  }
});

test('SYN cookies (tcp_syncookies=2): TOA in the SYN only still reaches the server (IPv4, IPv6, ::)', async () => {
  inNs('sysctl', '-qw', 'net.ipv4.tcp_syncookies=2');
  try {
    for (const [, port, format, client, expected] of cases) {
      const before = stats();
      const cookies = tcpExt();
      const p = toaPort();
      const c = await open({ port, syn: toa(format, client, p) });
      const seen = await seenBy(c, p);
      assert.is(seen.remoteAddress, expected);
      assert.is(seen.remotePort, p);
      const now = tcpExt();
      assert.ok((now.get('SyncookiesSent') ?? 0) > (cookies.get('SyncookiesSent') ?? 0), 'a cookie was sent');
      assert.ok(
        (now.get('SyncookiesRecv') ?? 0) > (cookies.get('SyncookiesRecv') ?? 0),
        'a cookie came back',
      );
      const after = stats();
      assert.is(after('stash_hits') - before('stash_hits'), 1);
      assert.is(after('stash_entries'), 0);
      c.abort();
    }
  } finally {
    inNs('sysctl', '-qw', 'net.ipv4.tcp_syncookies=1');
  }
});

test('a TOA in the ACK wins over a different one in the SYN; the SYN entry is removed anyway', async () => {
  const before = stats();
  const pSyn = toaPort();
  const pAck = toaPort();
  const c = await open({
    port: PORT4,
    syn: toa('254/8', OTHER4, pSyn),
    ack: encodeOptions([toa('254/8', CLIENT4, pAck)]),
  });
  const seen = await seenBy(c, pAck);
  assert.is(seen.remoteAddress, CLIENT4);
  assert.is(seen.remotePort, pAck);
  const after = stats();
  assert.is(after('syn_stashed') - before('syn_stashed'), 1);
  assert.is(after('stash_hits') - before('stash_hits'), 0);
  assert.is(after('stash_entries'), 0);
  c.abort();
});

test('a later SYN without TOA on the same 4-tuple forgets what an abandoned SYN stashed', async () => {
  const before = stats();
  const srcPort = lbPort++;
  const a = await open({ port: PORT4, syn: toa('254/8', CLIENT4, toaPort()), hold: true, srcPort });
  a.abort(); // the request goes; its stash entry would stay until it expires
  assert.is(stats()('stash_entries'), 1);
  const b = await open({ port: PORT4, srcPort });
  const seen = await seenBy(b);
  assert.is(seen.remoteAddress, LB4);
  assert.is(seen.remotePort, srcPort);
  const after = stats();
  assert.is(after('stash_entries'), 0);
  assert.is(after('stash_hits'), before('stash_hits'));
  b.abort();
});

test('a late ACK within stash_ttl_ms still gets the SYN TOA; past it the entry expires (LB address)', async () => {
  setParam('stash_ttl_ms', '1500');
  try {
    const before = stats();
    // within the TTL: the ACK half a second after the SYN-ACK
    let p = toaPort();
    const a = await open({ port: PORT4, syn: toa('254/8', CLIENT4, p), hold: true });
    await sleep(500);
    a.sendRaw();
    let seen = await seenBy(a, p);
    assert.is(seen.remoteAddress, CLIENT4);
    assert.is(seen.remotePort, p);
    // past it: swept (counted) before the ACK comes, so the server sees the load balancer
    p = toaPort();
    const b = await open({ port: PORT4, syn: toa('254/8', CLIENT4, p), hold: true });
    const mid = stats();
    assert.is(mid('stash_entries'), 1);
    const swept = await statsUntil((s) => s('stash_expired') > before('stash_expired'));
    assert.is(swept('stash_expired') - before('stash_expired'), 1, 'the sweeper expired the entry');
    assert.is(swept('stash_entries'), 0);
    b.sendRaw();
    seen = await seenBy(b, p);
    assert.is(seen.remoteAddress, LB4);
    assert.is(seen.remotePort, b.src.port);
    const after = stats();
    assert.is(after('stash_hits') - before('stash_hits'), 1);
    a.abort();
    b.abort();
  } finally {
    setParam('stash_ttl_ms', '64000');
  }
});

test('a SYN TOA that is malformed or from an untrusted source is counted once and not stashed', async () => {
  const before = stats();
  // kind 254 with length 10: toa-len
  const bad = Uint8Array.of(254, 10, 0x1f, 0x90, 192, 0, 2, 99, 0, 0);
  const a = await open({ port: DUAL, syn: bad });
  assert.is((await seenBy(a)).remoteAddress, `::ffff:${LB4}`);
  const mid = stats();
  assert.is(mid('malformed_toa-len') - before('malformed_toa-len'), 1, 'one count where two probes fire');
  assert.is(mid('syn_stashed'), before('syn_stashed'));
  setParam('trust', '10.9.9.0/24');
  try {
    const p = toaPort();
    const b = await open({ port: DUAL, syn: toa('254/8', CLIENT4, p) });
    assert.is((await seenBy(b, p)).remoteAddress, `::ffff:${LB4}`);
    const after = stats();
    assert.is(after('untrusted') - mid('untrusted'), 1);
    assert.is(after('syn_stashed'), mid('syn_stashed'));
    b.abort();
  } finally {
    setParam('trust', '\n');
  }
  a.abort();
});

/** Follows the server's connection events on one port from now on. */
function watch(localPort: number) {
  let cursor = server.events.length;
  const seen = new Map<string, number>();
  const scan = () => {
    for (; cursor < server.events.length; cursor++) {
      const e = server.events[cursor];
      if (e?.ev !== 'connection' || e.localPort !== localPort) continue;
      const key = `${e.remoteAddress} ${e.remotePort}`;
      seen.set(key, (seen.get(key) ?? 0) + 1);
    }
    return seen;
  };
  return scan;
}

const CHURN = 1000;

for (const cookies of [false, true]) {
  const n = cookies ? CHURN / 2 : CHURN;
  test(`churn: ${n} SYN-only connections with distinct clients (IPv4, IPv6)${cookies ? ' under SYN cookies' : ''}: 0 misattributed, nothing left stashed`, async () => {
    const started = Date.now();
    if (cookies) inNs('sysctl', '-qw', 'net.ipv4.tcp_syncookies=2');
    const before = stats();
    const w4 = watch(PORT4);
    const w6 = watch(PORT6);
    const expected = new Set<string>();
    let i = 0;
    const worker = async () => {
      while (i < n) {
        const k = i++;
        const v6 = k % 2 === 1;
        const client = v6 ? `2001:db8:7::${(k + 1).toString(16)}` : `10.8.${k >> 8}.${k & 255}`;
        const p = 1024 + (cookies ? CHURN : 0) + k; // never a port an earlier event has
        expected.add(`${client} ${p}`);
        const c = await open({
          port: v6 ? PORT6 : PORT4,
          syn: toa(v6 ? '254/20' : '254/8', client, p),
        });
        // closed only once accepted: a RST racing accept() loses the connection on 6.12+
        await seenBy(c, p);
        c.abort();
      }
    };
    try {
      await Promise.all(Array.from({ length: 16 }, worker));
    } finally {
      if (cookies) inNs('sysctl', '-qw', 'net.ipv4.tcp_syncookies=1');
    }
    const seen = [...w4(), ...w6()];
    const wrong = seen.filter(([key, count]) => !expected.has(key) || count !== 1);
    assert.equal(wrong.slice(0, 10), [], 'connections seen as a client not theirs (or twice)');
    assert.is(seen.length, n);
    const after = stats();
    assert.is(after('stash_hits') - before('stash_hits'), n);
    assert.is(after('syn_stashed') - before('syn_stashed'), n);
    assert.is(after('stash_entries'), 0);
    assert.is(after('stash_full') - before('stash_full'), 0);
    assert.is(after('stash_alloc_failed'), 0);
    assert.is(after('probe_missed'), 0);
    console.log(
      `  SYN-only churn${cookies ? ' (cookies)' : ''}: ${n} connections in ${Date.now() - started} ms`,
    );
  });
}

const MAX = 8;
const PENDING = 20;
let pendingLeft = 0;

test(`capacity: ${PENDING} handshakes left open with stash_max=${MAX}: ${MAX} kept, ${PENDING - MAX} refused and counted`, async () => {
  setParam('stash_max', String(MAX));
  const before = stats();
  const held: Connection[] = [];
  try {
    for (let i = 0; i < PENDING; i++)
      held.push(await open({ port: PORT4, syn: toa('254/8', `10.7.0.${i + 1}`, toaPort()), hold: true }));
    const after = stats();
    assert.is(after('stash_entries'), MAX);
    assert.is(after('syn_stashed') - before('syn_stashed'), MAX);
    assert.is(after('stash_full') - before('stash_full'), PENDING - MAX);
    assert.is(after('stash_alloc_failed'), 0);
    // full: a SYN-only handshake completes with the LB address, and nothing breaks
    const c = await open({ port: PORT4, syn: toa('254/8', CLIENT4, toaPort()) });
    assert.is((await seenBy(c)).remoteAddress, LB4);
    c.abort();
  } finally {
    // reset: the requests go, their stash entries stay until they expire
    for (const c of held) c.abort();
    setParam('stash_max', '4096');
  }
  pendingLeft = stats()('stash_entries');
  assert.is(pendingLeft, MAX);
  assert.is(stats()('probe_missed'), 0);
});

test('rmmod with SYN TOAs still stashed is clean: no BUG, WARNING or Oops', () => {
  assert.is(pendingLeft, MAX, 'the capacity test left entries to free');
  unload();
  const log = run('dmesg');
  const fresh = log.startsWith(logBefore) ? log.slice(logBefore.length) : log;
  const bad = fresh.split('\n').filter((line) => /\b(BUG|WARNING|Oops)\b/.test(line));
  assert.equal(bad, [], `kernel log:\n${fresh}`);
});

test.run();
