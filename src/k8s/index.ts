// Kubernetes manifests for the toa agent DaemonSet.
export { type AgentConfig, agentConfig, configText, parseAgentConfig, TRUST_PLACEHOLDER } from './config.js';
export { manifestDocs, renderManifest } from './manifest.js';
export * from './options.js';
export { validatePodMonitor } from './pod-monitor.js';
export { validateStrict } from './validate.js';
export { toYaml, toYamlStream } from './yaml.js';
