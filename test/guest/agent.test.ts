// Runs inside a lab guest (test/vm/boot.sh): `toa agent` as a pod runs it — the compiled CLI in
// a fresh network namespace of its own — against the real kernel. Prebuilt path to ready (start
// → ready ms and RSS printed), a TUN-peer connection showing the client, the trust list changed
// live through the ConfigMap's ..data swap (blocks, then allows), /metrics counters moving,
// SIGTERM leaving toa.ko loaded, a restart keeping it and --unload-on-exit removing it. The build
// and no-headers paths run in the image's pod (pod.test.ts), where the image's compilers are.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { release } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type AgentRun, prebuiltDir, spawnAgent, waitReady } from '../bench/agent.js';
import { configMapVolume } from '../configmap.js';
import { CLIENT, connectionSeen, LB, metric } from './tun-peer.js';

const ko = process.env.TOA_KO ?? '';
const tmp = mkdtempSync('/tmp/toa-agent-');
const loaded = () => existsSync('/sys/module/toa');
const version = () => readFileSync('/sys/module/toa/version', 'utf8').trim();
const param = (name: string) => readFileSync(`/sys/module/toa/parameters/${name}`, 'utf8').trim();

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

test.run();
