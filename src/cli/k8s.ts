// `toa k8s manifest`: flags -> src/k8s. A missing trust choice or any bad flag is one line on
// stderr and exit 2; nothing is printed to stdout then, so `| kubectl apply -f -` applies nothing.
import type { Command } from 'commander';
import {
  DEFAULT_FORMATS,
  DEFAULT_METRICS_PORT,
  DEFAULT_NAMESPACE,
  type ManifestOptions,
  parseFormatList,
  parseImage,
  parseNamespace,
  parsePort,
  parseTrust,
  renderManifest,
} from '../k8s/index.js';
import { VERSION } from '../k8s/labels.js';

interface Flags {
  trust?: string[];
  trustAny?: boolean;
  image: string;
  namespace: string;
  metricsPort: string;
  formats: string;
  prometheusOperator?: boolean;
  unloadOnExit?: boolean;
  prebuiltOnly?: boolean;
  output: string;
}

export const DEFAULT_IMAGE = `toa-agent:${VERSION}`;

export function optionsFromFlags(f: Flags): ManifestOptions {
  return {
    trust: parseTrust(f.trust, f.trustAny),
    image: parseImage(f.image),
    namespace: parseNamespace(f.namespace),
    metricsPort: parsePort(f.metricsPort),
    formats: parseFormatList(f.formats),
    prometheusOperator: f.prometheusOperator === true,
    unloadOnExit: f.unloadOnExit === true,
    prebuiltOnly: f.prebuiltOnly === true,
  };
}

function outputFormat(text: string): 'yaml' | 'json' {
  if (text !== 'yaml' && text !== 'json') throw new Error(`--output ${text}: write yaml or json`);
  return text;
}

export function addK8sCommand(program: Command): void {
  const k8s = program.command('k8s').description('Kubernetes: the toa agent DaemonSet');
  k8s
    .command('manifest')
    .description('print the manifests that install toa.ko on every node (kubectl apply -f -)')
    .option('--trust <cidr...>', 'load balancers allowed to supply a TOA (repeat or comma-separate)')
    .option('--trust-any', 'let any source supply a TOA (only when nothing else reaches the nodes)')
    .option('--image <ref>', 'the agent image', DEFAULT_IMAGE)
    .option('--namespace <name>', 'namespace for every object', DEFAULT_NAMESPACE)
    .option('--metrics-port <port>', 'the agent /healthz /readyz /metrics port', String(DEFAULT_METRICS_PORT))
    .option('--formats <list>', 'accepted TOA formats', DEFAULT_FORMATS.join(','))
    .option('--prometheus-operator', 'add a PodMonitor (monitoring.coreos.com/v1)')
    .option('--unload-on-exit', 'the agent unloads toa.ko when its pod stops (default: leave it loaded)')
    .option('--prebuilt-only', 'no build from node headers (nodes without /usr/src): prebuilt modules only')
    .option('--output <format>', 'yaml or json', 'yaml')
    .addHelpText(
      'after',
      '\nExactly one of --trust and --trust-any is required. Exit status: 0 printed, 2 bad usage.',
    )
    .action((f: Flags) => {
      try {
        const text = renderManifest(optionsFromFlags(f), outputFormat(f.output));
        process.stdout.write(text);
      } catch (e) {
        process.stderr.write(`toa k8s manifest: ${(e as Error).message.split('\n')[0]}\n`);
        process.exitCode = 2;
      }
    });
}
