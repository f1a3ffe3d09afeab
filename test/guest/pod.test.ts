// Runs inside a lab guest (test/vm/boot.sh): the agent image's rootfs (make image) started as the
// DaemonSet's pod by the lab's runner. First with a probe in place of `toa agent`: the image's
// Node and `toa` on its PATH, a read-only root, the manifest's mounts (read-only where it says,
// tmpfs of its sizes, the ConfigMap's ..data layout), exactly SYS_MODULE and NET_ADMIN, a fresh
// network namespace and PID 1. Then the manifest's own command: `toa agent` loads the image's
// prebuilt toa.ko for this kernel, becomes ready, a TUN peer in the pod's namespace shows the
// client, a ConfigMap update changes the trust list live, and the kubelet's stop leaves toa.ko
// loaded. Then a node without a prebuilt module: a newer toa in the node's /usr/src built in the
// pod from the node's headers (Debian's layout) and loaded as an upgrade, or the compiler the
// image lacks named; and a node without headers, whose package is named. TOA_IMAGE names the
// image directory ($BUILD/image; test/run.ts sets it).
import { execFileSync, spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  writeFileSync,
} from 'node:fs';
import { release } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { agentArgs } from '../../src/k8s/daemonset.js';
import { type ManifestOptions, parseAgentConfig } from '../../src/k8s/index.js';
import { inRoot, type PodOptions, podPlan, runPod, stopPod, writeConfigMap } from '../../src/lab/pod.js';
import { type Probe, probePod } from '../../src/lab/pod-probe.js';
import { configCompiler } from '../../src/module/build.js';
import { nodeUsrSrc, startAgentPod } from './agent-pod.js';
import { CLIENT, connectionSeen, LB, metric } from './tun-peer.js';

const image = process.env.TOA_IMAGE ?? '';
const MANIFEST: ManifestOptions = {
  trust: { kind: 'cidrs', cidrs: ['198.51.100.0/24', '2001:db8::/32'] },
  image: 'toa-agent:lab',
  namespace: 'toa-system',
  metricsPort: 9808,
  formats: ['254/8', '254/20'],
  prometheusOperator: false,
  unloadOnExit: false,
  prebuiltOnly: false,
};
// The node's /lib/modules is the lab kernel's; /usr/src, /usr/lib and /dev/net/tun are the guest's.
const POD: Omit<PodOptions, 'argv'> = {
  manifest: MANIFEST,
  image,
  nodeName: 'lab-node',
  hostPaths: { '/lib/modules': join(process.env.TOA_MODROOT ?? '', 'lib/modules') },
};

let probe: Probe;
const loaded = () => existsSync('/sys/module/toa');
const version = () => readFileSync('/sys/module/toa/version', 'utf8').trim();

test.before(async () => {
  assert.ok(image, 'TOA_IMAGE is unset: run `make image`, then the guest tests through test/run.ts');
  assert.ok(process.env.TOA_MODROOT, 'TOA_MODROOT is unset: run the guest tests through test/vm/boot.sh');
  probe = await probePod(POD);
});

test("the image's own Node and userland, `toa --help` through the image's PATH", () => {
  assert.match(probe.node, /^v20\./);
  assert.match(probe.osRelease, /^VERSION_CODENAME=trixie$/m);
  assert.is(probe.help.status, 0, probe.help.stderr);
  assert.match(probe.help.stdout, /^Usage: toa /);
});

test('the manifest command (toa agent with its args) is what the probe stands in for', () => {
  const plan = podPlan({ ...POD });
  assert.equal(plan.argv, ['toa', 'agent', ...agentArgs(MANIFEST)]);
});

test('env: the image PATH, TMPDIR and NODE_NAME from the fieldRef; uid 0, PID 1, cwd /', () => {
  assert.is(probe.env.NODE_NAME, 'lab-node');
  assert.is(probe.env.TMPDIR, '/tmp');
  assert.match(probe.env.PATH ?? '', /(^|:)\/usr\/local\/bin(:|$)/);
  assert.is(probe.uid, 0);
  assert.is(probe.pid, 1);
  assert.is(probe.cwd, '/');
});

test('capabilities are exactly SYS_MODULE and NET_ADMIN, nothing inheritable, no new privileges', () => {
  const want = ((1n << 16n) | (1n << 12n)).toString(16).padStart(16, '0');
  assert.equal(probe.status, {
    CapInh: '0000000000000000',
    CapPrm: want,
    CapEff: want,
    CapBnd: want,
    CapAmb: '0000000000000000',
    NoNewPrivs: '1',
  });
});

test('the root filesystem is read-only; /tmp and /var/lib/toa are writable, the host mounts not', () => {
  const root = probe.mounts.find((m) => m.target === '/');
  assert.match(root?.options ?? '', /^ro\b/);
  assert.equal(probe.writes, {
    '/': 'EROFS',
    '/usr': 'EROFS',
    '/tmp': 'ok',
    '/var/lib/toa': 'ok',
    '/etc/toa': 'EROFS',
    '/lib/modules': 'EROFS',
  });
});

test('every volumeMount is mounted where the manifest says, read-only where it says, tmpfs of its size', () => {
  const plan = podPlan({ ...POD });
  const rootfs = join(image, 'rootfs');
  for (const m of plan.mounts) {
    const target = inRoot(rootfs, m.path);
    const seen = probe.mounts.filter((p) => p.target === target).at(-1);
    assert.ok(seen, `${m.name}: nothing mounted on ${target}`);
    assert.is(seen.options.split(',')[0], m.readOnly ? 'ro' : 'rw', `${m.name} on ${target}`);
    if (m.volume.kind === 'tmpfs') {
      assert.is(seen.fstype, 'tmpfs', m.name);
      assert.match(seen.superOptions, new RegExp(`(^|,)size=${m.volume.bytes / 1024}k(,|$)`), m.name);
    }
  }
  assert.ok(plan.mounts.some((m) => m.path === '/lib/modules'));
});

test("the ConfigMap is a directory with the kubelet's ..data link, holding the manifest's config", () => {
  assert.match(probe.config.data, /^\.\.\d{4}_\d\d_\d\d_\d\d_\d\d_\d\d\.\d{9}$/);
  assert.is(probe.config.link, '..data/config.json');
  assert.equal(parseAgentConfig(probe.config.text), {
    trust: ['198.51.100.0/24', '2001:db8::/32'],
    formats: ['254/8', '254/20'],
  });
});

test("the pod's network namespace is a fresh one: not the guest's, only lo", () => {
  assert.is.not(probe.netns, readlinkSync('/proc/self/ns/net'));
  assert.equal(probe.links, ['lo']);
});

test("the pod's own UTS namespace: its hostname is not the guest's", () => {
  assert.is(probe.hostname, 'toa-lab-pod');
  assert.is.not(readFileSync('/proc/sys/kernel/hostname', 'utf8').trim(), 'toa-lab-pod');
});

test("a stop is the kubelet's: SIGTERM to the pod's PID 1, which handles it and exits 0", async () => {
  const pod = runPod({
    ...POD,
    argv: [
      'node',
      '-e',
      "process.on('SIGTERM', () => { console.log('SIGTERM'); process.exit(0); }); console.log('up'); setInterval(() => {}, 1000);",
    ],
  });
  let out = '';
  pod.stdout?.on('data', (c: Buffer) => {
    out += c.toString();
  });
  for (let i = 0; i < 1200 && !out.includes('up') && pod.exitCode === null; i++)
    await new Promise((r) => setTimeout(r, 100));
  assert.is(out, 'up\n');
  assert.is(await stopPod(pod, podPlan(POD).graceSeconds), 0);
  assert.is(out, 'up\nSIGTERM\n');
});

test('a stop kills a PID 1 that ignores SIGTERM once the grace period is over', async () => {
  const pod = runPod({ ...POD, argv: ['sleep', '600'] });
  await new Promise((r) => setTimeout(r, 2000));
  const started = Date.now();
  assert.is(await stopPod(pod, 2), 'SIGKILL');
  assert.ok(Date.now() - started >= 2000);
});

test("the manifest's command: toa agent loads the image's prebuilt toa.ko, is ready, shows the client, applies a ConfigMap update; a stop leaves toa.ko", async () => {
  if (loaded()) execFileSync('rmmod', ['toa']);
  const a = await startAgentPod(POD);
  try {
    const ms = await a.waitReady();
    console.log(
      `pod: toa agent start→ready ${ms.toFixed(0)} ms (kernel ${release()}, the image's prebuilt toa.ko)`,
    );
    const ko = `/opt/toa/prebuilt/${release()}/toa.ko`;
    assert.match(a.log(), `module: prebuilt ${ko} (version `);
    assert.match(a.log(), `module: loaded ${ko}`);
    assert.match(a.log(), 'ready: toa.ko loaded, configured and verified');
    let [, m] = await a.get('/metrics');
    assert.is(metric(m, 'toa_module_source{source="prebuilt",node="lab-node"}'), 1, m);
    assert.is(metric(m, 'toa_verify_ok{node="lab-node"}'), 1, m);

    assert.is(await connectionSeen(a.ns, 42001), `${CLIENT}:4321`);
    // The ConfigMap changes as the kubelet changes it (a new ..data); the LB is no longer trusted.
    writeConfigMap(join(a.work, 'volumes', 'config'), { 'config.json': '{"trust": ["203.0.113.0/24"]}\n' });
    await a.waitLog('config: applied trust 203.0.113.0/24');
    // Verified again with the new list (its self-test counts rewrites too), then the connection.
    await a.waitLog('ready: verified again after the config change');
    [, m] = await a.get('/metrics');
    const rewritten = metric(m, 'toa_kernel_counter{counter="getname_rewritten",node="lab-node"}');
    const untrusted = metric(m, 'toa_kernel_counter{counter="untrusted",node="lab-node"}');
    assert.is(await connectionSeen(a.ns, 42002), `${LB}:42002`);
    [, m] = await a.get('/metrics');
    assert.is(metric(m, 'toa_kernel_counter{counter="getname_rewritten",node="lab-node"}'), rewritten, m);
    assert.is(metric(m, 'toa_kernel_counter{counter="untrusted",node="lab-node"}'), untrusted + 1, m);
  } finally {
    assert.is(await a.stop(podPlan(POD).graceSeconds), 0, a.log());
  }
  assert.match(a.log(), 'module: toa.ko stays loaded (connections keep their client)');
  assert.ok(loaded(), "the pod's stop unloaded toa.ko");
});

// The paths below stand for a node whose kernel the image ships no module for: the manifest's
// command with --prebuilt-dir pointed at nothing, and the node's /usr/src, /lib/modules and
// /usr/lib as that node has them.
const noPrebuilt = (...more: string[]) => [
  'toa',
  'agent',
  ...agentArgs(MANIFEST),
  '--prebuilt-dir=/nonexistent',
  ...more,
];
const BUILD_SERIES = '6.1';

test("build path: a newer toa from the node's /usr/src, built in the pod with the image's compiler from the node's headers, upgrades the loaded module (gap logged), or the missing compiler is named", async () => {
  const modroot = process.env.TOA_MODROOT ?? '';
  execFileSync(process.execPath, ['bin/toa.js', 'load', '--ko', process.env.TOA_KO ?? '']);
  const before = version();
  const next = `${before}.1`;
  const kmod = mkdtempSync('/tmp/toa-kmod-next-');
  cpSync('kmod', kmod, { recursive: true });
  const h = join(kmod, 'toa_main.h');
  writeFileSync(
    h,
    readFileSync(h, 'utf8').replace(`#define TOA_VERSION "${before}"`, `#define TOA_VERSION "${next}"`),
  );
  const config = readFileSync(join(modroot, 'usr/src', `linux-headers-${release()}`, '.config'), 'utf8');
  const compiler = configCompiler(config);
  const inImage = existsSync(join(image, 'rootfs/usr/bin', compiler));
  // kbuild under TCG takes 5-6 min: one kernel builds (6.1), the others whose compiler the image has skip it.
  if (inImage && process.env.TOA_SERIES !== BUILD_SERIES) {
    console.log(`pod: build path on ${release()}: skipped (built on the ${BUILD_SERIES} lab kernel only)`);
    return;
  }
  const usrSrc = mkdtempSync('/tmp/toa-node-usr-src-');
  const unmount = nodeUsrSrc(usrSrc, modroot, release(), { [`toa-${next}`]: kmod });
  try {
    const a = await startAgentPod({
      ...POD,
      argv: noPrebuilt(`--kmod-src=/usr/src/toa-${next}`),
      hostPaths: {
        '/lib/modules': join(modroot, 'lib/modules'),
        '/usr/src': usrSrc,
        '/usr/lib': join(modroot, 'usr/lib'),
      },
    });
    try {
      if (!inImage) {
        await a.waitLog('not ready: no usable toa.ko');
        const why = `no usable toa.ko: the headers for ${release()} were made with ${compiler}, which this image lacks: building is unavailable on this node; ship a prebuilt toa.ko for ${release()}`;
        assert.equal(await a.get('/readyz'), [503, `not ready: ${why}`]);
        const [, m] = await a.get('/metrics');
        assert.is(metric(m, 'toa_module_source{source="failed",node="lab-node"}'), 1);
        console.log(`pod: build path on ${release()}: the image has no ${compiler}; the reason was reported`);
        assert.is(version(), before);
        return;
      }
      const ms = await a.waitReady(900000);
      const gap = /gap without toa\.ko ([\d.]+) ms/.exec(a.log())?.[1];
      console.log(
        `pod: build path on ${release()}: built in the pod and ready in ${ms.toFixed(0)} ms; upgrade gap ${gap} ms`,
      );
      assert.match(
        a.log(),
        `module: building for ${release()} from the node's headers (/var/lib/toa/headers/${release()}, ${compiler})`,
      );
      assert.match(
        a.log(),
        new RegExp(
          `module: upgraded ${before.replace(/\./g, '\\.')} -> ${next.replace(/\./g, '\\.')}; gap without toa\\.ko [\\d.]+ ms`,
        ),
      );
      assert.is(version(), next);
      const [, m] = await a.get('/metrics');
      assert.is(metric(m, 'toa_module_source{source="built",node="lab-node"}'), 1);
    } finally {
      assert.is(await a.stop(), 0, a.log());
    }
  } finally {
    unmount();
    if (loaded()) spawnSync('rmmod', ['toa']);
  }
});

test('no headers on the node: not ready, the package to install named', async () => {
  const node = mkdtempSync('/tmp/toa-bare-node-');
  for (const d of ['lib/modules', 'usr/src', 'usr/lib']) mkdirSync(join(node, d), { recursive: true });
  writeFileSync(
    join(node, 'usr/lib/os-release'),
    'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\n',
  );
  const a = await startAgentPod({
    ...POD,
    argv: noPrebuilt(),
    hostPaths: Object.fromEntries(['/lib/modules', '/usr/src', '/usr/lib'].map((d) => [d, join(node, d)])),
  });
  try {
    await a.waitLog('not ready: no usable toa.ko');
    assert.equal(await a.get('/readyz'), [
      503,
      `not ready: no usable toa.ko: no kernel headers for ${release()} on this node (/lib/modules/${release()}/build): install the package linux-headers-${release()} on the node (Debian GNU/Linux 12 (bookworm): apt-get install linux-headers-${release()})`,
    ]);
    const [, m] = await a.get('/metrics');
    assert.is(metric(m, 'toa_module_source{source="failed",node="lab-node"}'), 1);
  } finally {
    assert.is(await a.stop(), 0, a.log());
  }
});

test.run();
