// `toa k8s manifest`: the trust choice is forced, every object passes the API schema with unknown
// fields rejected, the YAML reads back (Ruby's Psych, a YAML 1.1 parser) as the same objects,
// deploy/ matches the code, and the config file it writes is the one the agent accepts.
import { execFile, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DEPLOY_DIR, deployFiles } from '../../src/k8s/deploy.js';
import {
  agentConfig,
  configText,
  type ManifestOptions,
  manifestDocs,
  parseAgentConfig,
  parseTrust,
  toYaml,
  validatePodMonitor,
  validateStrict,
} from '../../src/k8s/index.js';

const exec = promisify(execFile);

async function toa(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args]);
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

/** YAML stream → JSON, by a parser that is not ours. */
function parseYaml(text: string): unknown[] {
  const ruby = 'require "yaml"; require "json"; puts JSON.generate(YAML.load_stream(STDIN.read))';
  return JSON.parse(execFileSync('ruby', ['-e', ruby], { input: text, encoding: 'utf8' })) as unknown[];
}

const OPTS: ManifestOptions = {
  trust: { kind: 'cidrs', cidrs: ['198.51.100.0/24', '2001:db8::/32'] },
  image: 'registry.example/toa-agent:0.1.0',
  namespace: 'toa-system',
  metricsPort: 9808,
  formats: ['254/8', '254/20'],
  prometheusOperator: true,
  unloadOnExit: false,
  prebuiltOnly: false,
};

test('no trust choice, or both: exit 2, one line naming the spoofing risk, nothing on stdout', async () => {
  for (const args of [[], ['--trust', '198.51.100.0/24', '--trust-any']]) {
    const r = await toa('k8s', 'manifest', ...args);
    assert.is(r.code, 2);
    assert.is(r.stdout, '');
    assert.is(r.stderr.trim().split('\n').length, 1);
    assert.match(r.stderr, /spoofs client IPs/);
  }
});

test('bad flags: exit 2 with the fix', async () => {
  const cases: [string[], RegExp][] = [
    [['--trust', '198.51.100.0/33'], /not a CIDR; write ADDR\/PREFIX/],
    [['--trust', 'lb.example'], /not a CIDR/],
    [['--trust-any', '--formats', '254/9'], /unknown TOA format/],
    [['--trust-any', '--formats', ''], /empty list/],
    [['--trust-any', '--metrics-port', '0'], /1\.\.65535/],
    [['--trust-any', '--namespace', 'Toa_System'], /lowercase/],
    [['--trust-any', '--image', 'bad image'], /not an image reference/],
    [['--trust-any', '--output', 'xml'], /yaml or json/],
  ];
  for (const [args, message] of cases) {
    const r = await toa('k8s', 'manifest', ...args);
    assert.is(r.code, 2, args.join(' '));
    assert.is(r.stdout, '');
    assert.match(r.stderr, message);
  }
});

test('--trust: repeated and comma lists, canonical, deduplicated', () => {
  assert.equal(parseTrust(['198.51.100.7', '2001:db8::/32,198.51.100.7/32'], false), {
    kind: 'cidrs',
    cidrs: ['198.51.100.7/32', '2001:db8::/32'],
  });
  assert.equal(parseTrust(undefined, true), { kind: 'any' });
});

test('YAML and JSON output carry the same objects; YAML reads back with a foreign parser', async () => {
  const yaml = await toa('k8s', 'manifest', '--trust', '198.51.100.0/24', '--prometheus-operator');
  const json = await toa(
    'k8s',
    'manifest',
    '--trust',
    '198.51.100.0/24',
    '--prometheus-operator',
    '--output',
    'json',
  );
  assert.is(yaml.code, 0, yaml.stderr);
  const list = JSON.parse(json.stdout) as { kind: string; items: { kind: string }[] };
  assert.is(list.kind, 'List');
  assert.equal(
    list.items.map((i) => i.kind),
    ['Namespace', 'ServiceAccount', 'ConfigMap', 'DaemonSet', 'Service', 'PodMonitor'],
  );
  assert.equal(parseYaml(yaml.stdout), list.items);
});

test('the YAML emitter: strings that YAML would read as other types stay strings', () => {
  const tricky = {
    s: ['yes', 'no', 'on', 'off', 'y', 'true', 'null', '~', '9808', '0x1f', '1e3', '010', '1:20', '.inf', ''],
    t: [
      '--flag',
      '- dash',
      'a: b',
      'a #c',
      '#x',
      '*ref',
      '&a',
      '!tag',
      '{x}',
      '[x]',
      '"q"',
      "'q'",
      '%x',
      '@x',
      'tail ',
    ],
    multi: ['line one\n  indented\n\nlast\n', 'no newline\nat end', '\nleading', 'trailing  \nspace'],
    keys: { '1': 1, 'a/b': true, 'x y': null, yes: 0.5 },
    nested: [[1, [2]], [], {}, [{ a: [{ b: 1 }] }]],
  };
  assert.equal(parseYaml(toYaml(tricky))[0], tricky);
});

test('every object passes its API schema; an unknown field fails, at any depth', () => {
  const docs = manifestDocs(OPTS);
  assert.is(docs.length, 6);
  const ds = docs[3]?.value as Record<string, unknown>;
  validateStrict(new DaemonSet(ds as never));
  const withTypo = structuredClone(ds) as {
    spec: { template: { spec: { containers: Record<string, unknown>[]; tolerration?: unknown } } };
  };
  withTypo.spec.template.spec.tolerration = [];
  assert.throws(
    () => validateStrict(new DaemonSet(withTypo as never)),
    /DaemonSet toa: unknown field \/spec\/template\/spec\/tolerration/,
  );
  const deep = structuredClone(ds) as typeof withTypo;
  (
    deep.spec.template.spec.containers[0] as { securityContext: Record<string, unknown> }
  ).securityContext.privilaged = false;
  assert.throws(() => validateStrict(new DaemonSet(deep as never)), /securityContext\/privilaged/);
  assert.throws(
    () => validateStrict(new ConfigMap({ metadata: { name: 'x' }, data: { a: 1 as never } })),
    /ConfigMap x: .*must be string/,
  );
  // Map keys are data, not fields.
  validateStrict(
    new ConfigMap({ metadata: { name: 'x', labels: { anything: 'goes' } }, data: { any: 'key' } }),
  );
});

test('PodMonitor: our shape check rejects unknown fields and bad values', () => {
  const pm = manifestDocs(OPTS)[5]?.value as Record<string, unknown>;
  validatePodMonitor(pm);
  const bad = (
    mutate: (o: {
      spec: Record<string, unknown> & { podMetricsEndpoints: Record<string, unknown>[] };
    }) => void,
  ) => {
    const o = structuredClone(pm) as never;
    mutate(o);
    return () => validatePodMonitor(o);
  };
  assert.throws(
    bad((o) => {
      o.spec.extra = 1;
    }),
    /unknown field \/spec\/extra/,
  );
  assert.throws(
    bad((o) => {
      (o.spec.podMetricsEndpoints[0] as Record<string, unknown>).scheme = 'http';
    }),
    /unknown field/,
  );
  assert.throws(
    bad((o) => {
      (o.spec.podMetricsEndpoints[0] as Record<string, unknown>).interval = '30 seconds';
    }),
    /duration/,
  );
  assert.throws(
    bad((o) => {
      o.spec.podMetricsEndpoints = [];
    }),
    /at least one/,
  );
  assert.throws(
    bad((o) => {
      (o as unknown as { metadata: Record<string, unknown> }).metadata.nmae = 'x';
    }),
    /\/metadata: unknown field \/metadata\/nmae/,
  );
  assert.throws(
    bad((o) => {
      o.spec.selector = { matchLabels: { a: 1 } };
    }),
    /\/spec\/selector: .*must be string/,
  );
  assert.throws(
    bad((o) => {
      o.spec.selector = { matchLabel: { a: 'b' } };
    }),
    /\/spec\/selector: unknown field \/spec\/selector\/matchLabel/,
  );
});

test('the DaemonSet: least privilege, probes on the metrics port, every node', () => {
  const ds = manifestDocs({ ...OPTS, unloadOnExit: true, metricsPort: 9100 })[3]?.value as DaemonSet;
  const pod = ds.spec?.template.spec;
  const c = pod?.containers[0];
  assert.equal(c?.securityContext?.capabilities, { drop: ['ALL'], add: ['SYS_MODULE', 'NET_ADMIN'] });
  assert.is(c?.securityContext?.privileged, false);
  assert.is(c?.securityContext?.readOnlyRootFilesystem, true);
  assert.is(c?.securityContext?.seccompProfile?.type, 'RuntimeDefault');
  assert.is(pod?.hostNetwork, false);
  assert.is(pod?.hostPID, false);
  assert.equal(pod?.tolerations, [{ operator: 'Exists' }]);
  assert.is(pod?.priorityClassName, 'system-node-critical');
  assert.equal(ds.spec?.updateStrategy, { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } });
  assert.equal(c?.command, ['toa', 'agent']);
  assert.ok(c?.args?.includes('--metrics-port=9100') && c.args.includes('--unload-on-exit'));
  assert.equal(c?.ports, [{ name: 'metrics', containerPort: 9100, protocol: 'TCP' }]);
  assert.is(c?.livenessProbe?.httpGet?.path, '/healthz');
  assert.is(c?.readinessProbe?.httpGet?.path, '/readyz');
  const mounts = Object.fromEntries((c?.volumeMounts ?? []).map((m) => [m.mountPath, m.readOnly === true]));
  assert.equal(mounts, {
    '/etc/toa': true,
    '/lib/modules': true,
    '/usr/src': true,
    '/host/usr/lib': true,
    '/dev/net/tun': false,
    '/var/lib/toa': false,
    '/tmp': false,
  });
  // Host paths are read-only (but the TUN device); what the agent writes goes to emptyDirs.
  const byName = Object.fromEntries((c?.volumeMounts ?? []).map((m) => [m.name, m.readOnly === true]));
  for (const v of pod?.volumes ?? []) {
    if (v.hostPath) assert.is(byName[v.name], v.name !== 'dev-tun', v.name);
    else assert.ok(v.emptyDir || v.configMap, v.name);
  }
});

test('--prebuilt-only: no header mounts, the agent told so', () => {
  const ds = manifestDocs({ ...OPTS, prebuiltOnly: true })[3]?.value as DaemonSet;
  const c = ds.spec?.template.spec?.containers[0];
  const paths = (c?.volumeMounts ?? []).map((m) => m.mountPath);
  assert.equal(paths, ['/etc/toa', '/lib/modules', '/dev/net/tun', '/var/lib/toa', '/tmp']);
  assert.equal(
    (ds.spec?.template.spec?.volumes ?? []).map((v) => v.name),
    ['config', 'lib-modules', 'dev-tun', 'state', 'tmp'],
  );
  assert.ok(c?.args?.includes('--prebuilt-only') && !c.args.some((a) => a.startsWith('--host-usr-lib')));
});

test('the config file: what the manifest writes the agent accepts; the placeholder it refuses', () => {
  const written = configText(agentConfig({ kind: 'cidrs', cidrs: ['198.51.100.0/24'] }, ['254/8']));
  assert.equal(parseAgentConfig(written), { trust: ['198.51.100.0/24'], formats: ['254/8'] });
  assert.equal(parseAgentConfig(configText(agentConfig({ kind: 'any' }, ['254/20']))), {
    trust: 'any',
    formats: ['254/20'],
  });
  const refused: [string, RegExp][] = [
    [configText(agentConfig({ kind: 'placeholder' }, ['254/8'])), /still the placeholder EDIT-ME/],
    ['{"trust": []}', /empty trust list would trust any source/],
    ['{"formats": ["254/8"]}', /no trust choice/],
    ['{"trust": ["any"]}', /write "trust": "any"/],
    ['{"trust": ["10.0.0.0/40"]}', /not a CIDR/],
    ['{"trust": "any", "format": ["254/8"]}', /unknown key format/],
    ['{"trust": "any", "formats": ["254/9"]}', /unknown TOA format/],
    ['{"trust": "any", "formats": []}', /empty list/],
    ['trust: any', /not JSON/],
  ];
  for (const [text, message] of refused) assert.throws(() => parseAgentConfig(text), message, text);
});

test('deploy/ is what the code generates (run `make manifests` after changing src/k8s)', () => {
  for (const f of deployFiles()) {
    const onDisk = readFileSync(join(DEPLOY_DIR, f.name), 'utf8');
    assert.ok(onDisk === f.text, `deploy/${f.name} drifted from src/k8s: run \`make manifests\``);
    // The static copies must not carry a usable trust choice.
    assert.throws(() => {
      const cm = parseYaml(onDisk).find((d) => (d as { kind: string }).kind === 'ConfigMap') as {
        data: Record<string, string>;
      };
      parseAgentConfig(cm.data['config.json'] ?? '');
    }, /placeholder/);
  }
});

test.run();
