// Runs inside a lab guest (test/vm/boot.sh): toa.ko's generic netlink family "TOA" through the
// src/netlink client, against real sockets. The TUN peer plays the load balancer, as in
// toa.test.ts; lookups run in a child process inside the server's network namespace.
import { execFile, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
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
import * as a from '../../src/netlink/attrs.js';
import { cidrToText, openToa, type Toa, ToaError, uapi } from '../../src/netlink/index.js';
import { encodeOptions, encodeToa } from '../../src/wire/index.js';
import { CLIENT4, ko, LB4, run, SERVER4, unload } from './lab.js';

const PORT4 = 8080;
const CHILD = ['node', '--import', 'tsx', 'test/guest/genl-child.ts'];
const SWAPS = Number(process.env.GENL_SWAPS ?? 3000);

const runAsync = promisify(execFile);
let tun: Tun;
let ns: string;
let server: Server;
let toa: Toa;
let nextPort = 40000;
let nextToaPort = 50000;
let dmesgBefore = '';

/** One connection from the "load balancer", with a TOA naming CLIENT4 unless plain. */
async function via(plain = false): Promise<{ seen: ServerEvent; c: Connection; toaPort: number }> {
  const toaPort = nextToaPort++;
  const options = encodeOptions([encodeToa({ format: '254/8', address: CLIENT4, port: toaPort })]);
  const c = await connect({
    tun,
    src: { address: LB4, port: nextPort++ },
    dst: { address: SERVER4, port: PORT4 },
    ...(plain ? {} : { ackOptions: options }),
  });
  const ports = [c.src.port, toaPort];
  const seen = await server.waitFor(
    (e) => e.ev === 'connection' && e.localPort === PORT4 && ports.includes(e.remotePort ?? -1),
  );
  return { seen, c, toaPort };
}

const counters = async () => new Map((await toa.stats()).map((s) => [s.name, s.value]));
const delta = (after: Map<string, number>, before: Map<string, number>, name: string) =>
  (after.get(name) ?? Number.NaN) - (before.get(name) ?? Number.NaN);

interface ChildResult {
  ok?: unknown;
  error?: { code: string; errno: number; extack?: string; message: string };
  [k: string]: unknown;
}

async function child(argv: string[]): Promise<ChildResult> {
  const { stdout } = await runAsync(argv[0] ?? '', argv.slice(1), { encoding: 'utf8' });
  return JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as ChildResult;
}

/** Sends raw attributes as SET_CONFIG; resolves to the ToaError the kernel answered with. */
async function rejected(attrs: Uint8Array): Promise<ToaError> {
  try {
    await toa.request('setConfig', uapi.Cmd.SET_CONFIG, attrs);
  } catch (e) {
    if (e instanceof ToaError) return e;
    throw e;
  }
  throw new Error('the kernel accepted a malformed SET_CONFIG');
}

async function rejects(p: Promise<unknown>, re: RegExp): Promise<void> {
  try {
    await p;
  } catch (e) {
    assert.match((e as Error).message, re);
    return;
  }
  assert.unreachable(`resolved; want an error matching ${re}`);
}

const cidrAttr = (family: number, addr: Uint8Array, prefix: number) =>
  a.nest(uapi.Attr.TRUST, [
    a.nest(uapi.TrustAttr.CIDR, [
      a.u8(uapi.CidrAttr.FAMILY, family),
      a.attr(uapi.CidrAttr.ADDR, addr),
      a.u8(uapi.CidrAttr.PREFIX, prefix),
    ]),
  ]);

test.before(async () => {
  assert.ok(ko, 'TOA_KO is unset: run the guest tests through test/vm/boot.sh');
  unload();
  dmesgBefore = run('dmesg');
  tun = openTun();
  ns = await createNetns();
  await moveLink(tun.name, ns, { addresses: ['198.51.100.1/24'], routes: ['203.0.113.0/24'] });
  server = await startServer({ netns: ns, listen: [{ host: '0.0.0.0', port: PORT4 }] });
});

test.after(async () => {
  toa?.close();
  await server?.stop();
  await tun?.close();
  if (ns) await deleteNetns(ns);
  unload();
});

test('module not loaded: openToa says toa.ko is not loaded', async () => {
  try {
    await openToa();
    assert.unreachable('the family resolved without toa.ko');
  } catch (e) {
    assert.match((e as Error).message, /family TOA not found: toa\.ko is not loaded/);
  }
  run('insmod', ko);
  toa = await openToa();
});

test('stats: every line of /proc/net/toa_stats, in order, with its value', async () => {
  const proc = readFileSync('/proc/net/toa_stats', 'utf8').trim().split('\n');
  const stats = await toa.stats();
  assert.equal(
    stats.map((s) => s.name),
    proc.map((l) => l.split(' ')[0]),
  );
  assert.equal(
    stats.map((s) => s.id),
    proc.map((_, i) => i),
  );
  const fromProc = Object.fromEntries(proc.map((l) => l.split(' ')));
  for (const s of stats.filter((s) => s.name.startsWith('toa_')))
    assert.is(String(s.value), fromProc[s.name]);
});

test('config: defaults, the same as the module parameters', async () => {
  const cfg = await toa.config();
  assert.equal(cfg.trust, []);
  assert.is(cfg.formats.join(','), run('cat', '/sys/module/toa/parameters/formats').trim());
  assert.is(cfg.enabled, true);
  assert.is(cfg.stashMax, Number(run('cat', '/sys/module/toa/parameters/stash_max')));
  assert.is(cfg.stashTtlMs, Number(run('cat', '/sys/module/toa/parameters/stash_ttl_ms')));
  assert.is(cfg.version, run('cat', '/sys/module/toa/version').trim());
});

test('counters move with TOA traffic', async () => {
  const before = await counters();
  const { seen, c, toaPort } = await via();
  assert.is(seen.remoteAddress, CLIENT4);
  assert.is(seen.remotePort, toaPort);
  const after = await counters();
  assert.is(delta(after, before, 'toa_v4'), 1);
  assert.is(delta(after, before, 'toa_254/8'), 1);
  assert.ok(delta(after, before, 'getname_rewritten') >= 1);
  c.abort();
  // test/host/netlink.test.ts decodes such a reply: GENL_CAPTURE=1 saves one to the results share
  if (process.env.GENL_CAPTURE)
    writeFileSync(
      '/tmp/results/genl-stats.hex',
      Buffer.from(await toa.request('stats', uapi.Cmd.GET_STATS, new Uint8Array(0))).toString('hex'),
    );
});

test('setConfig trust list without the LB: TOA ignored and counted untrusted; restore works', async () => {
  await toa.setConfig({ trust: ['203.0.113.0/24', '2001:db8:2::/48'] });
  assert.is(run('cat', '/sys/module/toa/parameters/trust').trim(), '203.0.113.0/24,2001:db8:2::/48');
  const before = await counters();
  const blocked = await via();
  assert.is(blocked.seen.remoteAddress, LB4);
  assert.is(delta(await counters(), before, 'untrusted'), 1);
  blocked.c.abort();
  await toa.setConfig({ trust: [`${LB4}/32`] });
  const cfg = await toa.config();
  assert.is(cfg.trust.length, 1);
  assert.is(cfg.trust[0]?.prefix, 32);
  const ok = await via();
  assert.is(ok.seen.remoteAddress, CLIENT4);
  ok.c.abort();
  await toa.setConfig({ trust: [] });
  assert.equal((await toa.config()).trust, []);
});

test('a trust list longer than one page comes back whole', async () => {
  const list = Array.from({ length: 400 }, (_, i) =>
    i % 2 ? `2001:db8:${i.toString(16)}::/48` : `10.${i >> 8}.${i & 255}.0/24`,
  );
  await toa.setConfig({ trust: list });
  assert.equal((await toa.config()).trust.map(cidrToText), list);
  await toa.setConfig({ trust: [] });
});

test('setConfig enabled=false: sockets answer the LB as stock; formats set live', async () => {
  await toa.setConfig({ enabled: false, formats: ['254/8', '200/8'] });
  assert.is(run('cat', '/sys/module/toa/parameters/enabled').trim(), 'N');
  assert.is(run('cat', '/sys/module/toa/parameters/formats').trim(), '254/8,200/8');
  const off = await via();
  assert.is(off.seen.remoteAddress, LB4);
  off.c.abort();
  await toa.setConfig({ enabled: true, formats: '254/8,254/20' });
  const on = await via();
  assert.is(on.seen.remoteAddress, CLIENT4);
  on.c.abort();
});

test('bad input from TS: an invalid CIDR throws before anything is sent', async () => {
  const before = (await toa.config()).trust;
  for (const bad of ['198.51.100.0/33', '198.51.100/24', 'lb.example/32', '2001:db8::/129', '1.2.3.4/8/1'])
    await rejects(toa.setConfig({ trust: [bad] }), /trust CIDR/);
  await rejects(toa.setConfig({ formats: '254/9' }), /unknown TOA format/);
  await rejects(toa.setConfig({}), /nothing to change/);
  assert.equal((await toa.config()).trust, before);
});

test('malformed attributes: EINVAL (ERANGE for a policy range) with the extack text; nothing changes', async () => {
  const v4 = new Uint8Array([198, 51, 100, 0]);
  const cases: [Uint8Array, string, RegExp][] = [
    [cidrAttr(uapi.AF_INET, new Uint8Array(5), 24), 'EINVAL', /want 4 bytes for AF_INET/],
    [cidrAttr(uapi.AF_INET, v4, 33), 'EINVAL', /prefix longer than the address/],
    [cidrAttr(7, v4, 24), 'EINVAL', /want 4 bytes for AF_INET/],
    [cidrAttr(uapi.AF_INET, v4, 129), 'ERANGE', /out of range/],
    [a.str(uapi.Attr.FORMATS, '254/9'), 'EINVAL', /unknown format name/],
    [a.u8(uapi.Attr.ENABLED, 2), 'ERANGE', /out of range/],
    [a.nest(uapi.Attr.TRUST, [a.u8(uapi.TrustAttr.CIDR, 1)]), 'EINVAL', /./],
    [new Uint8Array(0), 'EINVAL', /needs TRUST, FORMATS or ENABLED/],
  ];
  for (const [attrs, code, extack] of cases) {
    const e = await rejected(attrs);
    assert.is(e.code, code, e.message);
    assert.match(e.extack ?? '', extack);
  }
  // a good CIDR next to a bad one: the whole request is refused
  const mixed = a.nest(uapi.Attr.TRUST, [
    a.nest(uapi.TrustAttr.CIDR, [a.u8(1, uapi.AF_INET), a.attr(2, v4), a.u8(3, 24)]),
    a.nest(uapi.TrustAttr.CIDR, [a.u8(1, uapi.AF_INET), a.attr(2, v4), a.u8(3, 40)]),
  ]);
  assert.is((await rejected(mixed)).code, 'EINVAL');
  assert.equal((await toa.config()).trust, []);
});

// Without CAP_NET_ADMIN (dropped from the bounding set, so root's exec does not get it back). Not
// another uid: the repository may sit where only root can read (a clone under /root).
test('without CAP_NET_ADMIN: reads stats, gets EPERM on setConfig', async () => {
  const nobody = ['setpriv', '--bounding-set=-net_admin'];
  assert.ok((await child([...nobody, ...CHILD, 'stats'])).ok);
  const r = await child([...nobody, ...CHILD, 'set', JSON.stringify({ trust: ['192.0.2.0/24'] })]);
  assert.is(r.error?.code, 'EPERM', JSON.stringify(r));
  assert.equal((await toa.config()).trust, []);
});

test('lookup by 4-tuple (in the server netns): client + LB for TOA, ENOENT without, ESRCH when absent', async () => {
  const t = await via();
  const tuple = { local: { address: SERVER4, port: PORT4 }, remote: { address: LB4, port: t.c.src.port } };
  const found = await child(inNetns(ns, [...CHILD, 'lookup', JSON.stringify(tuple), '200']));
  assert.equal(found.ok, {
    client: { address: CLIENT4, port: t.toaPort },
    lb: { address: LB4, port: t.c.src.port },
    format: '254/8',
    seen: 'ack',
  });
  console.log(`lookup: ${Number(found.usPerLookup).toFixed(1)} us per lookup (200, one socket)`);
  const plain = await via(true);
  const none = { ...tuple, remote: { address: LB4, port: plain.c.src.port } };
  assert.is((await child(inNetns(ns, [...CHILD, 'lookup', JSON.stringify(none)]))).error?.code, 'ENOENT');
  // the root namespace has no such connection
  assert.is((await child([...CHILD, 'lookup', JSON.stringify(tuple)])).error?.code, 'ESRCH');
  t.c.abort();
  plain.c.abort();
});

test('concurrent setConfig swaps during traffic: every decision matches a whole list', async () => {
  // Both lists trust the LB, through different entries at different positions: a reader that
  // saw half a list (a count from one, entries from the other, or unfilled entries) would
  // refuse it, and the server would see the LB.
  const A = ['203.0.113.0/24', '2001:db8:2::/48', '10.0.0.0/8', `${LB4}/32`];
  const B = ['198.51.100.0/24'];
  const before = await counters();
  const swapper = spawn(
    CHILD[0] ?? 'node',
    [...CHILD.slice(1), 'swap', String(SWAPS), JSON.stringify(A), JSON.stringify(B)],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  let out = '';
  swapper.stdout.on('data', (d) => {
    out += d;
  });
  const done = new Promise<number>((resolve) => swapper.on('exit', (code) => resolve(code ?? -1)));
  let running = true;
  void done.then(() => {
    running = false;
  });
  let conns = 0;
  while (running || conns < 10) {
    const { seen, c } = await via();
    assert.is(seen.remoteAddress, CLIENT4, `connection ${conns} saw the LB: half a trust list`);
    c.abort();
    conns++;
  }
  assert.is(await done, 0);
  const r = JSON.parse(out.trim()) as ChildResult;
  assert.is(r.ok, SWAPS);
  const after = await counters();
  assert.is(delta(after, before, 'untrusted'), 0);
  console.log(`swaps: ${SWAPS} at ${Number(r.swapsPerSecond).toFixed(0)}/s; ${conns} connections meanwhile`);
  await toa.setConfig({ trust: [] });
});

test('no kernel warnings; unloaded again, the family is gone', async () => {
  const log = run('dmesg').slice(dmesgBefore.length);
  assert.not.match(log, /WARNING|BUG|Oops|refcount|KASAN|UBSAN/);
  toa.close();
  unload();
  await rejects(openToa(), /toa\.ko is not loaded/);
});

test.run();
