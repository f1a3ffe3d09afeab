// Runs inside a lab guest (test/vm/boot.sh): the `toa` CLI against the real kernel. load → verify
// → traffic → unload, and the precise failures: verify without the module, verify with a trust
// list that excludes its load balancer, load of a .ko built for another kernel, verify killed
// midway (nothing left behind).
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { connect, createNetns, deleteNetns, moveLink, openTun, startServer } from '../../src/lab/index.js';
import { encodeOptions, encodeToa } from '../../src/wire/index.js';

const ko = process.env.TOA_KO ?? '';
const CLI = [...process.execArgv, 'src/cli/main.ts'];

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

function toa(...args: string[]): Ran {
  const r = spawnSync(process.execPath, [...CLI, ...args], { encoding: 'utf8', timeout: 120000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const param = (name: string) => readFileSync(`/sys/module/toa/parameters/${name}`, 'utf8').trim();
const loaded = () => existsSync('/sys/module/toa');
const leftovers = () => [
  ...(existsSync('/run/netns') ? readdirSync('/run/netns').filter((n) => n.startsWith('toaverify-')) : []),
  ...readdirSync('/sys/class/net').filter((n) => n.startsWith('toaverify')),
];
const stat = (name: string) =>
  Number(readFileSync('/proc/net/toa_stats', 'utf8').match(new RegExp(`^${name} (\\d+)$`, 'm'))?.[1]);

test.before(() => {
  assert.ok(ko, 'TOA_KO is unset: run the guest tests through test/vm/boot.sh');
  if (loaded()) spawnSync('rmmod', ['toa']);
});

test.after(() => {
  if (loaded()) spawnSync('rmmod', ['toa']);
});

test('verify without the module: exit 1, says to run toa load, leaves nothing', () => {
  const r = toa('verify');
  assert.is(r.code, 1, r.stderr);
  assert.match(r.stderr, /^toa verify: module: toa\.ko is not loaded: run `toa load`\n$/);
  assert.equal(leftovers(), []);
});

test('load refuses a .ko built for another kernel (vermagic), nothing loaded', () => {
  const others = [join(dirname(ko), '..')]
    .flatMap((d) => readdirSync(d).map((s) => join(d, s, 'toa.ko')))
    .filter((p) => p !== ko && existsSync(p));
  // And always one whose vermagic names another release: the same module, one byte changed.
  const forged = '/tmp/toa-other-kernel.ko';
  const bytes = readFileSync(ko);
  const at = bytes.indexOf('vermagic=') + 'vermagic='.length;
  bytes[at] = bytes[at] === 0x39 ? 0x38 : 0x39;
  writeFileSync(forged, bytes);
  for (const other of [forged, ...others]) {
    const r = toa('load', '--ko', other);
    assert.is(r.code, 1, `${other}: ${r.stderr}`);
    assert.match(r.stderr, `does not fit the running kernel: it was built for `);
    assert.match(r.stderr, `this kernel is ${release()}; run \`toa build\` for this kernel`);
    assert.not.ok(loaded());
  }
});

test('load --trust --formats: finit_module with those parameters', () => {
  const r = toa(
    'load',
    '--ko',
    ko,
    '--trust',
    '198.51.100.0/24,2001:db8::/32',
    '--formats',
    '254/8,254/20',
    '--json',
  );
  assert.is(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.is(out.action, 'loaded');
  assert.is(out.version, readFileSync('/sys/module/toa/version', 'utf8').trim());
  assert.is(param('trust'), '198.51.100.0/24,2001:db8::/32');
  assert.is(param('formats'), '254/8,254/20');
});

test('load again (same version): applies the config; a bad CIDR exits 2 and changes nothing', () => {
  let r = toa('load', '--ko', ko, '--trust', '10.0.0.0/8');
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /already loaded; configuration applied/);
  assert.is(param('trust'), '10.0.0.0/8');
  r = toa('load', '--ko', ko, '--trust', '10.0.0.0/8', '--trust', '300.1.1.1', '--formats', '254/8');
  assert.is(r.code, 2);
  assert.is(
    r.stderr,
    'toa load: --trust 300.1.1.1: not a CIDR; write ADDR/PREFIX (198.51.100.0/24, 2001:db8::/32)\n',
  );
  assert.is(param('trust'), '10.0.0.0/8');
  assert.is(param('formats'), '254/8,254/20');
});

test('verify with a trust list that excludes its load balancer: exit 1, names the list and the fix', () => {
  const r = toa('verify');
  assert.is(r.code, 1, r.stdout);
  assert.match(r.stderr, 'toa verify: getpeername: getpeername() says 198.51.100.2:');
  assert.match(r.stderr, 'the trust list (10.0.0.0/8) excludes the test load balancer 198.51.100.2');
  assert.equal(leftovers(), []);
  // --lb inside the list: the same module passes.
  const ok = toa('verify', '--lb', '10.1.2.3');
  assert.is(ok.code, 0, ok.stdout + ok.stderr);
});

test('verify: exit 0, every step ok, the counters moved, nothing left', () => {
  assert.is(toa('load', '--ko', ko, '--trust', '198.51.100.0/24').code, 0);
  const before = stat('getname_rewritten');
  const r = toa('verify', '--json');
  assert.is(r.code, 0, r.stdout + r.stderr);
  const out = JSON.parse(r.stdout) as { ok: boolean; steps: { step: string; ok: boolean; detail: string }[] };
  assert.ok(out.ok);
  assert.equal(
    out.steps.map((s) => [s.step, s.ok]),
    ['module', 'config', 'namespace', 'listener', 'connection', 'getpeername', 'lookup'].map((s) => [
      s,
      true,
    ]),
  );
  assert.match(out.steps[6]?.detail ?? '', 'TOA_SO_GET_PEER: 203.0.113.99:40123 via toa lb 198.51.100.2:');
  assert.ok(stat('getname_rewritten') > before);
  assert.equal(leftovers(), []);
});

function startVerify(): {
  child: ChildProcess;
  when: (text: string) => Promise<void>;
  done: Promise<number | null>;
} {
  const child = spawn(process.execPath, [...CLI, 'verify'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const waiters: [string, () => void][] = [];
  child.stdout?.on('data', (d) => {
    out += d;
    for (const [text, resolve] of waiters) if (out.includes(text)) resolve();
  });
  const done = new Promise<number | null>((resolve) =>
    child.on('close', (code, sig) => resolve(code ?? (sig ? -1 : null))),
  );
  const when = (text: string) =>
    new Promise<void>((resolve, reject) => {
      if (out.includes(text)) return resolve();
      waiters.push([text, resolve]);
      setTimeout(() => reject(new Error(`verify never printed ${text}: ${out}`)), 60000);
    });
  return { child, when, done };
}

test('verify killed midway (SIGTERM): namespace and device removed', async () => {
  const v = startVerify();
  await v.when('ok   namespace');
  v.child.kill('SIGTERM');
  assert.is(await v.done, 143);
  assert.equal(leftovers(), []);
});

test('verify killed midway (SIGKILL): the next run removes the stale namespace', async () => {
  const v = startVerify();
  await v.when('ok   namespace');
  v.child.kill('SIGKILL');
  await v.done;
  const stale = leftovers().filter((n) => n === `toaverify-${v.child.pid}`);
  assert.is(stale.length, 1, 'a SIGKILLed verify leaves its named namespace');
  const r = toa('verify');
  assert.is(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, `removed stale toaverify-${v.child.pid}`);
  assert.equal(leftovers(), []);
});

test('traffic through the loaded module: the server sees the client and the data', async () => {
  const tun = openTun();
  const ns = await createNetns();
  try {
    await moveLink(tun.name, ns, { addresses: ['198.51.100.1/24'] });
    const server = await startServer({ netns: ns, listen: [{ host: '0.0.0.0', port: 8080 }] });
    try {
      const c = await connect({
        tun,
        src: { address: '198.51.100.2', port: 41000 },
        dst: { address: '198.51.100.1', port: 8080 },
        ackOptions: encodeOptions([encodeToa({ format: '254/8', address: '192.0.2.77', port: 5555 })]),
      });
      await c.send('hello toa');
      const seen = await server.waitFor((e) => e.ev === 'connection' && e.remotePort === 5555);
      assert.is(seen.remoteAddress, '192.0.2.77');
      const data = await server.waitFor((e) => e.ev === 'data' && e.id === seen.id);
      assert.is(Buffer.from(data.hex ?? '', 'hex').toString(), 'hello toa');
      await c.close();
    } finally {
      await server.stop();
    }
  } finally {
    await tun.close();
    await deleteNetns(ns);
  }
});

test('unload: reports the sockets with TOA state, then the module is gone; again: nothing to do', () => {
  const r = toa('unload', '--json');
  assert.is(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.is(out.action, 'unloaded');
  assert.type(out.socketsTracked, 'number');
  assert.not.ok(loaded());
  const again = toa('unload');
  assert.is(again.code, 0);
  assert.is(again.stdout, 'toa.ko is not loaded; nothing to do\n');
});

test('load with the default --ko path is refused clearly (no toa.ko was built or installed for this kernel)', () => {
  const r = toa('load');
  assert.is(r.code, 1);
  assert.match(r.stderr, `no toa.ko for ${release()}: run \`toa build\` first, or pass --ko PATH`);
});

test.run();
