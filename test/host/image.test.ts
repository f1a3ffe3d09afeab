// The agent image and its lab pod, without a kernel: the Dockerfile installs image/packages (the
// list image/build.sh installs), and the pod runner's plan is the DaemonSet's: command over the
// image's entrypoint, env, mounts (with --prebuilt-only's left out), capabilities; its in-root
// path resolution and the kubelet's ConfigMap layout. The pod itself runs in the lab
// (test/guest/pod.test.ts).
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { daemonSet } from '../../src/k8s/daemonset.js';
import type { ManifestOptions } from '../../src/k8s/index.js';
import { type ImageConfig, inRoot, podPlan, quantityBytes, writeConfigMap } from '../../src/lab/pod.js';

const OPTS: ManifestOptions = {
  trust: { kind: 'cidrs', cidrs: ['198.51.100.0/24'] },
  image: 'toa-agent:lab',
  namespace: 'toa-system',
  metricsPort: 9808,
  formats: ['254/8', '254/20'],
  prometheusOperator: false,
  unloadOnExit: false,
  prebuiltOnly: false,
};
const IMAGE: ImageConfig = {
  Entrypoint: ['toa'],
  Cmd: ['agent'],
  Env: ['PATH=/usr/bin:/bin', 'TMPDIR=/var/tmp'],
};

const packages = () =>
  readFileSync('image/packages', 'utf8')
    .split('\n')
    .filter((l) => l && !l.startsWith('#'));

test('the Dockerfile installs exactly image/packages in its final stage', () => {
  const docker = readFileSync('image/Dockerfile', 'utf8');
  const final = docker.slice(docker.lastIndexOf('\nFROM '));
  const install = /apt-get install -y --no-install-recommends ([^&\n]+)/.exec(final);
  assert.ok(install, 'no apt-get install line in the final stage of image/Dockerfile');
  assert.equal(
    (install[1] ?? '').replace('\\', '').trim().split(/\s+/).sort(),
    packages().sort(),
    'image/Dockerfile and image/packages differ: edit both',
  );
});

test('the plan runs the manifest command with its args, env and the nodeName fieldRef', () => {
  const plan = podPlan({ manifest: OPTS, image: '', nodeName: 'node-a' }, IMAGE);
  const c = daemonSet(OPTS).spec?.template.spec?.containers[0];
  assert.equal(plan.argv, [...(c?.command ?? []), ...(c?.args ?? [])]);
  assert.is(plan.argv[0], 'toa');
  assert.equal(plan.env, ['PATH=/usr/bin:/bin', 'TMPDIR=/tmp', 'NODE_NAME=node-a']);
  assert.equal(podPlan({ manifest: OPTS, image: '', argv: ['node', '-v'] }, IMAGE).argv, ['node', '-v']);
});

test('the plan keeps exactly the added capabilities, a read-only root, no privilege escalation', () => {
  const plan = podPlan({ manifest: OPTS, image: '' }, IMAGE);
  assert.equal(plan.caps.sort(), [12, 16]); // NET_ADMIN, SYS_MODULE
  assert.ok(plan.readOnlyRoot);
  assert.ok(plan.noNewPrivs);
  assert.not.ok(plan.hostNetwork);
  assert.is(plan.graceSeconds, daemonSet(OPTS).spec?.template.spec?.terminationGracePeriodSeconds);
});

test('the plan mounts every volumeMount: hostPath (lab overrides), emptyDir sizes, the ConfigMap', () => {
  const plan = podPlan(
    { manifest: OPTS, image: '', hostPaths: { '/lib/modules': '/lab/lib/modules' } },
    IMAGE,
  );
  const mounts = daemonSet(OPTS).spec?.template.spec?.containers[0]?.volumeMounts ?? [];
  assert.equal(
    plan.mounts.map((m) => [m.name, m.path, m.readOnly]),
    mounts.map((m) => [m.name, m.mountPath, m.readOnly === true]),
  );
  const by = Object.fromEntries(plan.mounts.map((m) => [m.name, m.volume]));
  assert.equal(by['lib-modules'], { kind: 'bind', source: '/lab/lib/modules', type: 'Directory' });
  assert.equal(by['usr-lib'], { kind: 'bind', source: '/usr/lib', type: 'Directory' });
  assert.equal(by.state, { kind: 'tmpfs', bytes: 512 * 1024 * 1024 });
  assert.equal(by.tmp, { kind: 'tmpfs', bytes: 64 * 1024 * 1024 });
  const config = by.config as { kind: string; data: Record<string, string> };
  assert.is(config.kind, 'configMap');
  assert.equal(JSON.parse(config.data['config.json'] ?? ''), {
    trust: ['198.51.100.0/24'],
    formats: ['254/8', '254/20'],
  });
  const prebuilt = podPlan({ manifest: { ...OPTS, prebuiltOnly: true }, image: '' }, IMAGE);
  assert.equal(
    prebuilt.mounts.map((m) => m.name),
    ['config', 'lib-modules', 'dev-tun', 'state', 'tmp'],
  );
  assert.ok(prebuilt.argv.includes('--prebuilt-only'));
});

test('quantities: Ki/Mi/Gi and decimal units; anything else is refused by name', () => {
  assert.is(quantityBytes('64Mi'), 64 * 1024 * 1024);
  assert.is(quantityBytes('1G'), 1e9);
  assert.throws(() => quantityBytes('1.5Gi'), /quantity 1\.5Gi/);
});

test('inRoot resolves links as a chroot would, never above the root', () => {
  const root = mkdtempSync(join(tmpdir(), 'toa-inroot-'));
  try {
    mkdirSync(join(root, 'usr/lib/modules'), { recursive: true });
    symlinkSync('usr/lib', join(root, 'lib'));
    symlinkSync('/usr/lib/modules', join(root, 'mods'));
    symlinkSync('../../../../..', join(root, 'usr/up'));
    assert.is(inRoot(root, '/lib/modules'), '/usr/lib/modules');
    assert.is(inRoot(root, '/mods/6.1/build'), '/usr/lib/modules/6.1/build');
    assert.is(inRoot(root, '/usr/up/lib'), '/usr/lib');
    assert.is(inRoot(root, '/dev/net/tun'), '/dev/net/tun');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("writeConfigMap: the kubelet's ..data layout, and an update swaps ..data and drops the old data", () => {
  const dir = mkdtempSync(join(tmpdir(), 'toa-cm-'));
  try {
    writeConfigMap(dir, { 'config.json': 'one' });
    const first = readlinkSync(join(dir, '..data'));
    assert.match(first, /^\.\.\d{4}_\d\d_\d\d_\d\d_\d\d_\d\d\.\d{9}$/);
    assert.is(readlinkSync(join(dir, 'config.json')), '..data/config.json');
    assert.is(readFileSync(join(dir, 'config.json'), 'utf8'), 'one');
    writeConfigMap(dir, { 'config.json': 'two' });
    assert.is.not(readlinkSync(join(dir, '..data')), first);
    assert.is(readFileSync(join(dir, 'config.json'), 'utf8'), 'two');
    assert.equal(
      readdirSync(dir).sort(),
      ['..data', readlinkSync(join(dir, '..data')), 'config.json'].sort(),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
