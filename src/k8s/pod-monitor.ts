// The Prometheus Operator's PodMonitor (monitoring.coreos.com/v1). kubernetes-models has no CRD
// types for it, so its shape is declared and checked here: the fields we emit, nothing else.
// The embedded Kubernetes types (ObjectMeta, LabelSelector) are checked strictly by placing them
// in core objects that hold them (a ConfigMap's metadata, a PodDisruptionBudget's selector).
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { labels, NAME, SELECTOR } from './labels.js';
import { validateStrict } from './validate.js';

export interface PodMonitor {
  apiVersion: 'monitoring.coreos.com/v1';
  kind: 'PodMonitor';
  metadata: { name: string; namespace: string; labels: Record<string, string> };
  spec: {
    selector: { matchLabels: Record<string, string> };
    podMetricsEndpoints: { port: string; path: string; interval: string }[];
  };
}

export function podMonitor(ns: string): PodMonitor {
  return {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PodMonitor',
    metadata: { name: NAME, namespace: ns, labels: labels() },
    spec: {
      selector: { matchLabels: SELECTOR },
      podMetricsEndpoints: [{ port: 'metrics', path: '/metrics', interval: '30s' }],
    },
  };
}

function keys(where: string, value: unknown, allowed: string[], required = allowed): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new Error(`PodMonitor: ${where} must be an object`);
  const o = value as Record<string, unknown>;
  const extra = Object.keys(o).filter((k) => !allowed.includes(k));
  if (extra.length)
    throw new Error(`PodMonitor: unknown field ${extra.map((k) => `${where}/${k}`).join(', ')}`);
  const missing = required.filter((k) => o[k] === undefined);
  if (missing.length) throw new Error(`PodMonitor: ${where} lacks ${missing.join(', ')}`);
  return o;
}

function embedded(where: string, check: () => void): void {
  try {
    check();
  } catch (e) {
    // "ConfigMap ?: unknown field /metadata/x" → "PodMonitor: /metadata: unknown field /metadata/x"
    throw new Error(`PodMonitor: ${where}: ${(e as Error).message.replace(/^\S+ \S+: /, '')}`);
  }
}

// Prometheus durations: 30s, 1m30s, ...
const DURATION = /^(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?$/;

export function validatePodMonitor(value: unknown): void {
  const o = keys('', value, ['apiVersion', 'kind', 'metadata', 'spec']);
  if (o.apiVersion !== 'monitoring.coreos.com/v1' || o.kind !== 'PodMonitor')
    throw new Error('PodMonitor: apiVersion/kind must be monitoring.coreos.com/v1 PodMonitor');
  embedded('/metadata', () => validateStrict(new ConfigMap({ metadata: o.metadata as never })));
  const spec = keys('/spec', o.spec, ['selector', 'podMetricsEndpoints']);
  embedded('/spec/selector', () =>
    validateStrict(
      new PodDisruptionBudget({ metadata: { name: 'x' }, spec: { selector: spec.selector as never } }),
    ),
  );
  const endpoints = spec.podMetricsEndpoints;
  if (!Array.isArray(endpoints) || endpoints.length === 0)
    throw new Error('PodMonitor: /spec/podMetricsEndpoints must list at least one endpoint');
  endpoints.forEach((e, i) => {
    const ep = keys(`/spec/podMetricsEndpoints/${i}`, e, ['port', 'path', 'interval']);
    if (typeof ep.port !== 'string' || !/^[a-z0-9-]{1,15}$/.test(ep.port))
      throw new Error(`PodMonitor: /spec/podMetricsEndpoints/${i}/port must name a container port`);
    if (typeof ep.path !== 'string' || !ep.path.startsWith('/'))
      throw new Error(`PodMonitor: /spec/podMetricsEndpoints/${i}/path must start with /`);
    if (typeof ep.interval !== 'string' || !ep.interval || !DURATION.test(ep.interval))
      throw new Error(`PodMonitor: /spec/podMetricsEndpoints/${i}/interval is not a duration (30s)`);
  });
}
