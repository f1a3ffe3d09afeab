// Runs inside a lab guest (test/vm/boot.sh): `toa agent` as a pod runs it — the compiled CLI in
// a fresh network namespace of its own — against the real kernel. Prebuilt path to ready (start
// → ready ms and RSS printed), a TUN-peer connection showing the client, the trust list changed
// live through the ConfigMap's ..data swap (blocks, then allows), /metrics counters moving,
// SIGTERM leaving toa.ko loaded, a restart keeping it and --unload-on-exit removing it, the build
// path from the guest's own headers (a copy of kmod/ with a bumped version, loaded as an upgrade
// with its gap logged) where the headers' compiler exists here, its precise reason where not,
// and the no-headers path.
import { execFileSync, spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { release } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { configCompiler } from '../../src/agent/headers.js';
import { type AgentRun, prebuiltDir, spawnAgent, waitReady } from '../bench/agent.js';
import { configMapVolume } from '../configmap.js';
import { CLIENT, connectionSeen, LB, metric } from './tun-peer.js';

const ko = process.env.TOA_KO ?? '';
const modroot = process.env.TOA_MODROOT ?? '';
const tmp = mkdtempSync('/tmp/toa-agent-');
const loaded = () => existsSync('/sys/module/toa');
const version = () => readFileSync('/sys/module/toa/version', 'utf8').trim();
const param = (name: string) => readFileSync(`/sys/module/toa/parameters/${name}`, 'utf8').trim();
const BUILD_SERIES = '6.1';

test.before(() => {
  assert.ok(ko, 'TOA_KO is unset: run the guest tests through test/vm/boot.sh');
  assert.ok(existsSync('dist/src/agent/agent.js'), 'dist/ is stale: run `make build` on the host first');
  if (loaded()) spawnSync('rmmod', ['toa']);
});

test.after(() => {
  if (loaded()) spawnSync('rmmod', ['toa']);
});

/** Stop the agent (SIGTERM), its exit status, and remove its namespace. */
async function stop(a: AgentRun, sig: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  a.child.kill(sig);
  const code = await a.exit;
  a.cleanup();
  return code;
}

test('prebuilt → ready (timed), client seen, trust list changed live, counters move, SIGTERM leaves toa.ko', async () => {
  const cm = configMapVolume(join(tmp, 'cm'), `{"trust": ["${LB}/32"]}`);
  const pre = prebuiltDir(ko);
  const a = spawnAgent([
    `--config=${cm.path}`,
    `--prebuilt-dir=${pre}`,
    `--state-dir=${join(tmp, 'state')}`,
    '--prebuilt-only',
  ]);
  try {
    const ms = await waitReady(a);
    const rss = a.rssMb();
    console.log(
      `agent: start→ready ${ms.toFixed(0)} ms, RSS ${rss.toFixed(1)} MB (kernel ${release()}, prebuilt)`,
    );
    assert.ok(rss < 200, `RSS ${rss} MB`);
    const log = a.log();
    assert.match(
      log,
      `module: prebuilt ${join(pre, release(), 'toa.ko')} (version ${version()}) fits ${release()}`,
    );
    assert.match(log, `module: loaded ${join(pre, release(), 'toa.ko')}`);
    assert.match(log, 'verify: ok lookup: TOA_SO_GET_PEER: 203.0.113.99:40123 via toa lb 198.51.100.2:');
    assert.match(log, 'ready: toa.ko loaded, configured and verified');
    // The self-test's load balancer was trusted only during the test.
    assert.is(param('trust'), `${LB}/32`);
    assert.equal(await a.get('/readyz'), [200, 'ready']);
    let [, m] = await a.get('/metrics');
    assert.is(metric(m, 'toa_module_source{source="prebuilt",node="lab-node"}'), 1);
    assert.is(metric(m, 'toa_verify_ok{node="lab-node"}'), 1);
    assert.ok(metric(m, 'toa_verify_timestamp_seconds{node="lab-node"}') > Date.now() / 1000 - 600);
    assert.is(metric(m, `toa_module_info{version="${version()}",node="lab-node"}`), 1);
    const rewritten = metric(m, 'toa_kernel_counter{counter="getname_rewritten",node="lab-node"}');
    assert.ok(rewritten >= 1, m);

    const rewrittenNow = async () => {
      const [, text] = await a.get('/metrics');
      return metric(text, 'toa_kernel_counter{counter="getname_rewritten",node="lab-node"}');
    };
    assert.is(await connectionSeen(a.ns, 41001), `${CLIENT}:4321`);
    assert.is(await rewrittenNow(), rewritten + 1);
    // A trust list without the LB: its TOA is ignored, the server sees the LB. Each change is
    // verified again (the self-test trusts its own LB meanwhile), and the agent stays ready.
    const VERIFIED = 'ready: verified again after the config change';
    const verifiedAt = metric(m, 'toa_verify_timestamp_seconds{node="lab-node"}');
    cm.swap('{"trust": ["203.0.113.0/24"], "formats": ["254/8", "254/20"]}');
    await a.waitLog('config: applied trust 203.0.113.0/24, formats 254/8,254/20');
    await a.waitLog(VERIFIED);
    assert.is(param('trust'), '203.0.113.0/24');
    let r = await rewrittenNow();
    assert.is(await connectionSeen(a.ns, 41002), `${LB}:41002`);
    assert.is(await rewrittenNow(), r);
    // A bad change is refused; the list stays.
    cm.swap('{"trust": ["198.51.100.300/32"]}');
    await a.waitLog('config: refused, the previous stays (trust 203.0.113.0/24');
    assert.is(param('trust'), '203.0.113.0/24');
    cm.swap(`{"trust": ["203.0.113.0/24", "${LB}/32"]}`);
    await a.waitLog(`config: applied trust 203.0.113.0/24,${LB}/32`);
    await a.waitLog(VERIFIED, 2);
    r = await rewrittenNow();
    assert.is(await connectionSeen(a.ns, 41003), `${CLIENT}:4321`);
    assert.is(await rewrittenNow(), r + 1);
    assert.equal(await a.get('/readyz'), [200, 'ready']);
    [, m] = await a.get('/metrics');
    assert.ok(metric(m, 'toa_kernel_counter{counter="untrusted",node="lab-node"}') >= 1, m);
    assert.ok(metric(m, 'toa_verify_timestamp_seconds{node="lab-node"}') > verifiedAt, m);
    assert.is(metric(m, 'toa_config_generation{node="lab-node"}'), 3);
    assert.is(metric(m, 'toa_config_errors_total{node="lab-node"}'), 1);
  } finally {
    assert.is(await stop(a), 0, a.log());
  }
  assert.match(a.log(), 'module: toa.ko stays loaded (connections keep their client)');
  assert.ok(loaded(), 'SIGTERM unloaded toa.ko');
});

test('restart with the same module keeps it; --unload-on-exit unloads it on SIGTERM', async () => {
  const cm = configMapVolume(join(tmp, 'cm-keep'), '{"trust": "any"}');
  const a = spawnAgent([
    `--config=${cm.path}`,
    `--prebuilt-dir=${prebuiltDir(ko)}`,
    '--prebuilt-only',
    '--unload-on-exit',
  ]);
  try {
    await waitReady(a);
    assert.match(a.log(), `module: toa.ko ${version()} is already loaded (same srcversion); keeping it`);
    assert.is(param('trust'), '');
  } finally {
    assert.is(await stop(a), 0, a.log());
  }
  assert.match(a.log(), /module: unloaded toa\.ko \S+ \(--unload-on-exit\)/);
  assert.not.ok(loaded());
});

/** The guest's kernel headers laid out as a node's, seen from a pod (see the host test's fakeNode). */
function nodeHeaders(dir: string) {
  const kver = release();
  const lab = join(modroot, 'usr/src', `linux-headers-${kver}`);
  const headers = join(dir, 'usr/src', `linux-headers-${kver}`);
  mkdirSync(headers, { recursive: true });
  const usrLib = join(dir, 'host-usr-lib');
  mkdirSync(usrLib);
  writeFileSync(join(usrLib, 'os-release'), 'PRETTY_NAME="Debian GNU/Linux"\nID=debian\n');
  for (const name of readdirSync(lab)) {
    if (name === 'scripts' || name === 'tools') {
      const link = readlinkSync(join(lab, name));
      const kbuild = /linux-kbuild-[^/]+/.exec(link)?.[0] ?? '';
      symlinkSync(link, join(headers, name));
      if (!existsSync(join(usrLib, kbuild)))
        symlinkSync(join(modroot, 'usr/lib', kbuild), join(usrLib, kbuild));
    } else if (name === 'Makefile') {
      const common = join(modroot, 'usr/src', `linux-headers-${kver.replace(/-amd64$/, '-common')}`);
      const out = /KBUILD_OUTPUT/.test(readFileSync(join(lab, name), 'utf8'))
        ? `KBUILD_OUTPUT=${headers}\n`
        : '';
      writeFileSync(join(headers, name), `${out}include ${common}/Makefile\n`);
    } else symlinkSync(join(lab, name), join(headers, name));
  }
  mkdirSync(join(dir, 'lib/modules', kver), { recursive: true });
  symlinkSync(headers, join(dir, 'lib/modules', kver, 'build'));
  return { libModules: join(dir, 'lib/modules'), usrLib, config: readFileSync(join(lab, '.config'), 'utf8') };
}

test("build path: a bumped kmod/ built from this kernel's headers upgrades the loaded module (gap logged), or the missing compiler is named", async () => {
  execFileSync(process.execPath, ['bin/toa.js', 'load', '--ko', ko]);
  const before = version();
  const src = join(tmp, 'kmod-next');
  cpSync('kmod', src, { recursive: true });
  const next = `${before}.1`;
  const h = join(src, 'toa_main.h');
  writeFileSync(
    h,
    readFileSync(h, 'utf8').replace(`#define TOA_VERSION "${before}"`, `#define TOA_VERSION "${next}"`),
  );
  const node = nodeHeaders(join(tmp, 'node'));
  const cm = configMapVolume(join(tmp, 'cm-build'), `{"trust": ["${LB}/32"]}`);
  const compiler = configCompiler(node.config);
  const canBuild = spawnSync('sh', ['-c', `command -v ${compiler}`]).status === 0;
  // kbuild under TCG takes 5-6 min: one kernel builds (6.1), the others with a compiler skip it.
  if (canBuild && process.env.TOA_SERIES !== BUILD_SERIES) {
    console.log(`agent: build path on ${release()}: skipped (built on the ${BUILD_SERIES} lab kernel only)`);
    return;
  }
  const a = spawnAgent([
    `--config=${cm.path}`,
    `--prebuilt-dir=${join(tmp, 'no-prebuilt')}`,
    `--state-dir=${join(tmp, 'state-build')}`,
    `--host-usr-lib=${node.usrLib}`,
    `--lib-modules=${node.libModules}`,
    `--kmod-src=${src}`,
  ]);
  try {
    if (!canBuild) {
      await a.waitLog('not ready: no usable toa.ko');
      const why = `no usable toa.ko: the headers for ${release()} were made with ${compiler}, which this image lacks: building is unavailable on this node; ship a prebuilt toa.ko for ${release()}`;
      assert.equal(await a.get('/readyz'), [503, `not ready: ${why}`]);
      const [, m] = await a.get('/metrics');
      assert.is(metric(m, 'toa_module_source{source="failed",node="lab-node"}'), 1);
      console.log(
        `agent: build path on ${release()}: ${compiler} is not in this guest; the reason was reported`,
      );
      assert.is(version(), before);
      return;
    }
    const started = Date.now();
    await waitReady(a, 900000);
    const log = a.log();
    const gap = /gap without toa\.ko ([\d.]+) ms/.exec(log)?.[1];
    console.log(
      `agent: build path on ${release()}: built and ready in ${Date.now() - started} ms; upgrade gap ${gap} ms`,
    );
    assert.match(log, `module: building for ${release()} from the node's headers`);
    assert.match(
      log,
      new RegExp(
        `module: upgraded ${before.replace(/\./g, '\\.')} -> ${next.replace(/\./g, '\\.')}; gap without toa\\.ko [\\d.]+ ms`,
      ),
    );
    assert.is(version(), next);
    const [, m] = await a.get('/metrics');
    assert.is(metric(m, 'toa_module_source{source="built",node="lab-node"}'), 1);
  } finally {
    assert.is(await stop(a), 0, a.log());
  }
});

test('no headers: not ready, the package to install named', async () => {
  const cm = configMapVolume(join(tmp, 'cm-none'), '{"trust": "any"}');
  const usrLib = join(tmp, 'bare-usr-lib');
  mkdirSync(usrLib, { recursive: true });
  writeFileSync(join(usrLib, 'os-release'), 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\n');
  const a = spawnAgent([
    `--config=${cm.path}`,
    `--prebuilt-dir=${join(tmp, 'no-prebuilt')}`,
    `--host-usr-lib=${usrLib}`,
    `--lib-modules=${join(tmp, 'no-modules')}`,
    `--state-dir=${join(tmp, 'state-none')}`,
  ]);
  try {
    await a.waitLog('not ready: no usable toa.ko');
    const [code, body] = await a.get('/readyz');
    assert.is(code, 503);
    assert.is(
      body,
      `not ready: no usable toa.ko: no kernel headers for ${release()} on this node (${join(tmp, 'no-modules', release(), 'build')}): install the package linux-headers-${release()} on the node (Debian GNU/Linux 12 (bookworm): apt-get install linux-headers-${release()})`,
    );
  } finally {
    assert.is(await stop(a), 0, a.log());
  }
});

test.run();
