// Runs inside a lab guest (test/vm/boot.sh): `toa status` and `toa config` against the real
// module over its generic-netlink family — load → status → config set (trust list) → verify →
// status counters moved → config switches → unload, and what an unprivileged caller may do.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const ko = process.env.TOA_KO ?? '';
const CLI = [...process.execArgv, 'src/cli/main.ts'];
// Without CAP_NET_ADMIN (out of the bounding set: root's exec does not get it back). Not another
// uid: the repository may sit where only root can read (a clone under /root).
const NOBODY = ['setpriv', '--bounding-set=-net_admin'];

function toa(...args: string[]) {
  const r = spawnSync(process.execPath, [...CLI, ...args], { encoding: 'utf8', timeout: 120000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function asNobody(...args: string[]) {
  const r = spawnSync(NOBODY[0] as string, [...NOBODY.slice(1), process.execPath, ...CLI, ...args], {
    encoding: 'utf8',
    timeout: 120000,
    env: { ...process.env, HOME: '/tmp' },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

interface StatusJson {
  loaded: boolean;
  version: string;
  config: { trust: string[]; formats: string[]; enabled: boolean; stashMax: number };
  stats: { name: string; value: number }[];
}

function status(): StatusJson {
  const r = toa('status', '--json');
  assert.is(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as StatusJson;
}

const counter = (s: StatusJson, name: string) => s.stats.find((c) => c.name === name)?.value ?? Number.NaN;
const param = (name: string) => readFileSync(`/sys/module/toa/parameters/${name}`, 'utf8').trim();
const loaded = () => existsSync('/sys/module/toa');

test.before(() => {
  assert.ok(ko, 'TOA_KO is unset: run the guest tests through test/vm/boot.sh');
  if (loaded()) spawnSync('rmmod', ['toa']);
});

test.after(() => {
  if (loaded()) spawnSync('rmmod', ['toa']);
});

test('status before load: not loaded, exit 1', () => {
  const r = toa('status', '--json');
  assert.is(r.code, 1);
  assert.equal(JSON.parse(r.stdout), { loaded: false });
});

test('load, then status: version, configuration and every counter of /proc/net/toa_stats', () => {
  assert.is(toa('load', '--ko', ko).code, 0);
  const s = status();
  assert.ok(s.loaded);
  assert.is(s.version, readFileSync('/sys/module/toa/version', 'utf8').trim());
  assert.equal(s.config.trust, []);
  assert.equal(s.config.formats.join(','), param('formats'));
  assert.ok(s.config.enabled);
  const proc = readFileSync('/proc/net/toa_stats', 'utf8').trim().split('\n');
  assert.equal(
    s.stats.map((c) => c.name),
    proc.map((l) => l.split(' ')[0]),
  );
  const human = toa('status');
  assert.is(human.code, 0);
  assert.match(human.stdout, `toa.ko ${s.version}: loaded\n`);
  assert.match(human.stdout, 'trust:     any source');
});

test('config set --trust excludes the test LB: verify fails naming it; --trust-any: verify passes', () => {
  let r = toa('config', 'set', '--trust', '203.0.113.0/24,2001:db8::/32', '--json');
  assert.is(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).trust, ['203.0.113.0/24', '2001:db8::/32']);
  assert.is(param('trust'), '203.0.113.0/24,2001:db8::/32');
  const untrusted = counter(status(), 'untrusted');
  r = toa('verify');
  assert.is(r.code, 1, r.stdout);
  assert.match(r.stderr, 'excludes the test load balancer 198.51.100.2');
  assert.ok(counter(status(), 'untrusted') > untrusted, 'the ignored TOA is counted');
  r = toa('config', 'set', '--trust-any');
  assert.is(r.code, 0, r.stderr);
  assert.is(param('trust'), '');
});

test('verify with traffic: status counters moved', () => {
  const before = status();
  const r = toa('verify');
  assert.is(r.code, 0, r.stdout + r.stderr);
  const after = status();
  for (const name of ['getname_rewritten', 'toa_v4'])
    assert.ok(
      counter(after, name) > counter(before, name),
      `${name}: ${counter(before, name)} -> ${counter(after, name)}`,
    );
});

test('config set --disable: getpeername answers the LB (verify fails); --enable restores', () => {
  let r = toa('config', 'set', '--disable');
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, 'rewriting: disabled');
  assert.not.ok(status().config.enabled);
  assert.is(toa('verify').code, 1);
  r = toa('config', 'set', '--enable', '--formats', '254/8,254/20');
  assert.is(r.code, 0, r.stderr);
  assert.ok(status().config.enabled);
  assert.is(toa('verify').code, 0);
});

test('bad input changes nothing: a bad CIDR among good ones, exit 2', () => {
  const before = status().config;
  const r = toa('config', 'set', '--trust', '198.51.100.0/24,198.51.100.0/99');
  assert.is(r.code, 2);
  assert.equal(status().config, before);
});

test('without CAP_NET_ADMIN: status and config get work; config set is refused (exit 1), nothing changed', () => {
  const before = status().config;
  assert.is(asNobody('status', '--json').code, 0);
  assert.is(asNobody('config', 'get').code, 0);
  const r = asNobody('config', 'set', '--trust', '198.51.100.0/24');
  assert.is(r.code, 1, r.stdout);
  assert.match(r.stderr, /EPERM.*CAP_NET_ADMIN/);
  assert.equal(status().config, before);
});

test('status --watch --json: a line per interval with per-second rates', async () => {
  const child = spawn(process.execPath, [...CLI, 'status', '--watch', '0.3', '--json'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines: string[] = [];
  await new Promise<void>((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`no two lines: ${buf}`)), 30000);
    child.stdout?.on('data', (d) => {
      buf += d;
      lines.splice(0, lines.length, ...buf.split('\n').filter(Boolean));
      if (lines.length >= 2) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  child.kill();
  const first = JSON.parse(lines[0] as string) as { rates: Record<string, number>; stats: unknown[] };
  assert.ok(first.stats.length > 10);
  assert.type(first.rates.segments_parsed, 'number');
});

test('unload: status says not loaded again', () => {
  assert.is(toa('unload').code, 0);
  assert.is(toa('status').code, 1);
});

test.run();
