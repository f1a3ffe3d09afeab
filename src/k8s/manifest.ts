// `toa k8s manifest`: the objects in apply order, each validated, as YAML documents or one JSON List.
import { agentConfig, TRUST_PLACEHOLDER } from './config.js';
import { daemonSet } from './daemonset.js';
import { configMap, metricsService, namespace, serviceAccount } from './objects.js';
import type { ManifestOptions } from './options.js';
import { podMonitor, validatePodMonitor } from './pod-monitor.js';
import { validateStrict } from './validate.js';
import { toYamlStream } from './yaml.js';

interface Doc {
  value: unknown;
  comment?: string[];
}

function trustComment(o: ManifestOptions): string[] {
  if (o.trust.kind === 'placeholder')
    return [
      'EDIT THIS before applying: "trust" lists the load balancers whose TOA option is believed.',
      'A TOA from any other source would let that source pick the client IP your apps see.',
      'Write their CIDRs (["10.20.0.0/24", "2001:db8:20::/64"]), or "any" if nothing else can',
      `reach these nodes. The agent refuses ${TRUST_PLACEHOLDER} (its pods stay not ready, the log says why).`,
      'Or generate this file with your choice: toa k8s manifest --trust CIDR... > toa.yaml',
    ];
  if (o.trust.kind === 'any')
    return [
      'trust "any": every source may supply a TOA (--trust-any). Only safe when nothing but',
      'your load balancers can reach these nodes.',
    ];
  return ['trust: only these sources may supply a TOA; others keep their own address.'];
}

/** The validated objects, in the order `kubectl apply` should create them. */
export function manifestDocs(o: ManifestOptions): Doc[] {
  const models = [
    { model: namespace(o.namespace) },
    { model: serviceAccount(o.namespace) },
    { model: configMap(o.namespace, agentConfig(o.trust, o.formats)), comment: trustComment(o) },
    { model: daemonSet(o) },
    { model: metricsService(o.namespace, o.metricsPort) },
  ];
  const docs: Doc[] = models.map(({ model, comment }) => {
    validateStrict(model);
    return { value: model.toJSON(), ...(comment && { comment }) };
  });
  if (o.prometheusOperator) {
    const pm = podMonitor(o.namespace);
    validatePodMonitor(pm);
    docs.push({ value: pm, comment: ['Needs the Prometheus Operator CRDs (monitoring.coreos.com/v1).'] });
  }
  return docs;
}

export function renderManifest(o: ManifestOptions, output: 'yaml' | 'json', header: string[] = []): string {
  const docs = manifestDocs(o);
  if (output === 'json')
    return `${JSON.stringify({ apiVersion: 'v1', kind: 'List', items: docs.map((d) => d.value) }, null, 2)}\n`;
  const head = header.length ? `${header.map((h) => (h ? `# ${h}` : '#')).join('\n')}\n` : '';
  return head + toYamlStream(docs);
}
