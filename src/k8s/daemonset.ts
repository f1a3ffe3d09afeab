// The agent DaemonSet: one `toa agent` per node, with only what loading and checking a kernel
// module needs. The contract it sets for the agent is in README.md next to this file.
import { DaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IVolume } from 'kubernetes-models/v1/Volume';
import type { IVolumeMount } from 'kubernetes-models/v1/VolumeMount';
import { CONFIG_NAME, labels, NAME, SELECTOR } from './labels.js';
import type { ManifestOptions } from './options.js';

export const CONFIG_DIR = '/etc/toa';
export const STATE_DIR = '/var/lib/toa';
/** Debian's headers link `scripts` and `tools` to /usr/lib/linux-kbuild-VERSION; seen here. */
export const HOST_USR_LIB = '/host/usr/lib';

interface Mount {
  name: string;
  /** Only for building from the node's headers (left out with --prebuilt-only). */
  build?: true;
  path: string;
  volume: Omit<IVolume, 'name'>;
  readOnly: boolean;
}

// Each mount exists for one job of the agent; everything else in the container is read-only.
const MOUNTS: Mount[] = [
  // A directory, not a subPath: only directory mounts see ConfigMap updates (an atomic swap of
  // the ..data link), which the agent applies live.
  { name: 'config', path: CONFIG_DIR, volume: { configMap: { name: CONFIG_NAME } }, readOnly: true },
  // Headers for the build-from-source path: /lib/modules/RELEASE/build links to /usr/src/...,
  // so both keep their host paths.
  {
    name: 'lib-modules',
    path: '/lib/modules',
    volume: { hostPath: { path: '/lib/modules', type: 'Directory' } },
    readOnly: true,
  },
  // With type Directory a node without /usr/src (Talos, Bottlerocket) cannot start the pod at
  // all: such clusters use --prebuilt-only, which leaves these two out.
  {
    name: 'usr-src',
    build: true,
    path: '/usr/src',
    volume: { hostPath: { path: '/usr/src', type: 'Directory' } },
    readOnly: true,
  },
  {
    name: 'usr-lib',
    build: true,
    path: HOST_USR_LIB,
    volume: { hostPath: { path: '/usr/lib', type: 'Directory' } },
    readOnly: true,
  },
  // The self-test's load balancer is a TUN device (runc allows c 10:200 by default; 1.2.0-1.2.3 did not).
  {
    name: 'dev-tun',
    path: '/dev/net/tun',
    volume: { hostPath: { path: '/dev/net/tun', type: 'CharDevice' } },
    readOnly: false,
  },
  // Built modules and the build's scratch: nothing the agent writes lands on the node's disk.
  { name: 'state', path: STATE_DIR, volume: { emptyDir: { sizeLimit: '512Mi' } }, readOnly: false },
  { name: 'tmp', path: '/tmp', volume: { emptyDir: { sizeLimit: '64Mi' } }, readOnly: false },
];

const mounts = (o: ManifestOptions) => MOUNTS.filter((m) => !(o.prebuiltOnly && m.build));

const volumeMount = (m: Mount): IVolumeMount => ({
  name: m.name,
  mountPath: m.path,
  ...(m.readOnly && { readOnly: true }),
});

export function agentArgs(o: ManifestOptions): string[] {
  return [
    `--config=${CONFIG_DIR}/config.json`,
    `--metrics-port=${o.metricsPort}`,
    `--state-dir=${STATE_DIR}`,
    ...(o.prebuiltOnly ? ['--prebuilt-only'] : [`--host-usr-lib=${HOST_USR_LIB}`]),
    ...(o.unloadOnExit ? ['--unload-on-exit'] : []),
  ];
}

function agent(o: ManifestOptions): IContainer {
  const probe = (path: string, period: number) => ({
    httpGet: { path, port: 'metrics' },
    periodSeconds: period,
    timeoutSeconds: 2,
    failureThreshold: 3,
  });
  return {
    name: 'agent',
    image: o.image,
    imagePullPolicy: 'IfNotPresent',
    command: ['toa', 'agent'],
    args: agentArgs(o),
    env: [
      { name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
      { name: 'TMPDIR', value: '/tmp' },
    ],
    ports: [{ name: 'metrics', containerPort: o.metricsPort, protocol: 'TCP' }],
    // /healthz answers while a build runs; /readyz only once the module is loaded, configured
    // and verified. A failing node stays not-ready (and says why) instead of restarting.
    livenessProbe: probe('/healthz', 10),
    readinessProbe: probe('/readyz', 5),
    resources: {
      // Steady state is a small Node process; the limit leaves room for gcc on the build path.
      requests: { cpu: '10m', memory: '64Mi' },
      limits: { cpu: '1', memory: '512Mi' },
    },
    securityContext: {
      privileged: false,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      // Added capabilities reach a process's effective set only as uid 0 (Kubernetes has no
      // ambient capabilities); the bounding set holds just these two.
      runAsUser: 0,
      runAsNonRoot: false,
      capabilities: { drop: ['ALL'], add: ['SYS_MODULE', 'NET_ADMIN'] },
      // The runtimes' default profiles (containerd, CRI-O, Docker) allow init_module,
      // finit_module and delete_module exactly when CAP_SYS_MODULE is granted.
      seccompProfile: { type: 'RuntimeDefault' },
    },
    volumeMounts: mounts(o).map(volumeMount),
  };
}

export function daemonSet(o: ManifestOptions): DaemonSet {
  return new DaemonSet({
    metadata: { name: NAME, namespace: o.namespace, labels: labels() },
    spec: {
      selector: { matchLabels: SELECTOR },
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } },
      template: {
        metadata: { labels: labels() },
        spec: {
          serviceAccountName: NAME,
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          // The pod's own network namespace is where the self-test runs (TUN peer, listener):
          // no namespace to create (that would need CAP_SYS_ADMIN) and nothing added to the
          // node's. The module, its trust list and its netlink family are node-wide anyway.
          hostNetwork: false,
          hostPID: false,
          hostIPC: false,
          priorityClassName: 'system-node-critical',
          nodeSelector: { 'kubernetes.io/os': 'linux' },
          tolerations: [{ operator: 'Exists' }],
          // --unload-on-exit waits out callers still inside the module before it returns.
          terminationGracePeriodSeconds: 60,
          containers: [agent(o)],
          volumes: mounts(o).map((m) => ({ name: m.name, ...m.volume })),
        },
      },
    },
  });
}
