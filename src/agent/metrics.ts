// What Prometheus scrapes: every kernel counter (GET_STATS over netlink at scrape time), and the
// agent's own state. Every series carries the node's name.
import { createRequire } from 'node:module';
import type * as Prom from 'prom-client';
import { loadedModule } from '../module/kernel.js';
import type { Stat } from '../netlink/index.js';
import type { Source } from './obtain.js';

// prom-client's index also loads what the agent does not use (default process metrics with
// OpenTelemetry, histograms, pushgateway, cluster aggregation): about 1.5 s of startup under the
// lab's emulation. Its classes, from their own files (the package has no exports map).
const require = createRequire(import.meta.url);
const Registry = require('prom-client/lib/registry') as typeof Prom.Registry;
const Gauge = require('prom-client/lib/gauge') as typeof Prom.Gauge;
const Counter = require('prom-client/lib/counter') as typeof Prom.Counter;
type Registry = Prom.Registry;

export interface AgentMetrics {
  registry: Registry;
  setSource(source: Source | 'none'): void;
  setVerify(ok: boolean, at: Date): void;
  setReady(ready: boolean): void;
  configApplied(): void;
  configRejected(): void;
}

export function createMetrics(node: string, kernelStats: () => Promise<Stat[] | null>): AgentMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ node });
  new Gauge({
    name: 'toa_kernel_counter',
    help: 'toa.ko counters (/proc/net/toa_stats), read over generic netlink at scrape time',
    labelNames: ['counter'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const s of (await kernelStats()) ?? []) this.set({ counter: s.name }, s.value);
    },
  });
  // Read at scrape time: the module can be unloaded behind the agent's back.
  new Gauge({
    name: 'toa_module_loaded',
    help: '1 when toa.ko is loaded',
    registers: [registry],
    collect() {
      this.set(loadedModule() ? 1 : 0);
    },
  });
  new Gauge({
    name: 'toa_module_info',
    help: 'the loaded toa.ko version (value 1)',
    labelNames: ['version'],
    registers: [registry],
    collect() {
      this.reset();
      const m = loadedModule();
      if (m) this.set({ version: m.version }, 1);
    },
  });
  const source = new Gauge({
    name: 'toa_module_source',
    help: "where this node's toa.ko came from: prebuilt, built (from the node's headers) or failed (1 for the current one)",
    labelNames: ['source'],
    registers: [registry],
  });
  const verifyOk = new Gauge({
    name: 'toa_verify_ok',
    help: '1 when the last self-test passed',
    registers: [registry],
  });
  const verifyAt = new Gauge({
    name: 'toa_verify_timestamp_seconds',
    help: 'when the last self-test ended (unix time)',
    registers: [registry],
  });
  const ready = new Gauge({
    name: 'toa_agent_ready',
    help: '1 when /readyz answers 200',
    registers: [registry],
  });
  const generation = new Gauge({
    name: 'toa_config_generation',
    help: 'configs applied since the agent started',
    registers: [registry],
  });
  const errors = new Counter({
    name: 'toa_config_errors_total',
    help: 'config files refused (the previous config stayed)',
    registers: [registry],
  });
  for (const s of ['prebuilt', 'built', 'failed']) source.set({ source: s }, 0);
  return {
    registry,
    setSource(s) {
      for (const k of ['prebuilt', 'built', 'failed']) source.set({ source: k }, k === s ? 1 : 0);
    },
    setVerify(ok, at) {
      verifyOk.set(ok ? 1 : 0);
      verifyAt.set(at.getTime() / 1000);
    },
    setReady: (r) => ready.set(r ? 1 : 0),
    configApplied: () => generation.inc(),
    configRejected: () => errors.inc(),
  };
}
