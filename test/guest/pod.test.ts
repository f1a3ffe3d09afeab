// Runs inside a lab guest (test/vm/boot.sh): the agent image's rootfs (make image) started as the
// DaemonSet's pod by the lab's runner, with a probe in place of `toa agent`: the image's Node and
// `toa` on its PATH, a read-only root, the manifest's mounts (read-only where it says, tmpfs of
// its sizes, the ConfigMap's ..data layout), exactly SYS_MODULE and NET_ADMIN, a fresh network
// namespace and PID 1. TOA_IMAGE names the image directory ($BUILD/image; test/run.ts sets it).
import { readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { agentArgs } from '../../src/k8s/daemonset.js';
import { type ManifestOptions, parseAgentConfig } from '../../src/k8s/index.js';
import { inRoot, type PodOptions, podPlan, runPod, stopPod } from '../../src/lab/pod.js';
import { type Probe, probePod } from '../../src/lab/pod-probe.js';

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

test.run();
