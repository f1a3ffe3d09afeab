// The small objects around the DaemonSet: Namespace, ServiceAccount, ConfigMap, metrics Service.
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { type AgentConfig, configText } from './config.js';
import { CONFIG_NAME, labels, NAME, SELECTOR } from './labels.js';

export function namespace(name: string): Namespace {
  return new Namespace({
    metadata: {
      name,
      labels: {
        ...labels(),
        // hostPath volumes and the SYS_MODULE/NET_ADMIN capabilities are outside the
        // "baseline" Pod Security Standard: clusters enforcing it would reject the pods.
        'pod-security.kubernetes.io/enforce': 'privileged',
      },
    },
  });
}

// The agent never calls the API server: no token is mounted, no RBAC is granted.
export function serviceAccount(ns: string): ServiceAccount {
  return new ServiceAccount({
    metadata: { name: NAME, namespace: ns, labels: labels() },
    automountServiceAccountToken: false,
  });
}

export function configMap(ns: string, config: AgentConfig): ConfigMap {
  return new ConfigMap({
    metadata: { name: CONFIG_NAME, namespace: ns, labels: labels() },
    data: { 'config.json': configText(config) },
  });
}

/** Headless: one DNS record per agent pod, for scrapers that discover endpoints. */
export function metricsService(ns: string, port: number): Service {
  return new Service({
    metadata: { name: NAME, namespace: ns, labels: labels() },
    spec: {
      clusterIP: 'None',
      selector: SELECTOR,
      ports: [{ name: 'metrics', port, targetPort: 'metrics', protocol: 'TCP' }],
    },
  });
}
