// What `toa k8s manifest` is asked for, checked: a trust choice is never implied.
import { parseCidr } from '../module/config.js';
import { type FormatName, parseFormats } from '../wire/index.js';

/**
 * Who may supply a TOA. `placeholder` is for the static deploy/ copy only: the agent refuses it,
 * so a manifest applied unedited never runs with a guessed trust list.
 */
export type Trust = { kind: 'cidrs'; cidrs: string[] } | { kind: 'any' } | { kind: 'placeholder' };

export interface ManifestOptions {
  trust: Trust;
  image: string;
  namespace: string;
  metricsPort: number;
  formats: FormatName[];
  prometheusOperator: boolean;
  unloadOnExit: boolean;
  /** No build from the node's headers: no /usr/src, /usr/lib mounts; the agent loads prebuilt modules only. */
  prebuiltOnly: boolean;
}

export const DEFAULT_FORMATS: FormatName[] = ['254/8', '254/20'];
export const DEFAULT_METRICS_PORT = 9808;
export const DEFAULT_NAMESPACE = 'toa-system';

const SPOOF =
  'TOA from an untrusted source spoofs client IPs: name your load balancers with --trust CIDR..., or pass --trust-any if only load balancers can reach these nodes';

// One CIDR reader for the CLI's --trust flags (src/module/config.ts).
export { parseCidr };

/** Exactly one of --trust (each item may be a comma list) and --trust-any. */
export function parseTrust(cidrs: string[] | undefined, any: boolean | undefined): Trust {
  const items = (cidrs ?? []).flatMap((c) => c.split(',')).filter((c) => c.trim() !== '');
  if (any && items.length) throw new Error(`give --trust or --trust-any, not both: ${SPOOF}`);
  if (any) return { kind: 'any' };
  if (!items.length) throw new Error(`no trust choice: ${SPOOF}`);
  return { kind: 'cidrs', cidrs: [...new Set(items.map((c) => parseCidr(c)))] };
}

export function parseFormatList(text: string): FormatName[] {
  let formats: FormatName[];
  try {
    formats = parseFormats(text);
  } catch (e) {
    throw new Error(`--formats ${text}: ${(e as Error).message}`);
  }
  if (!formats.length) throw new Error(`--formats ${text}: an empty list accepts no TOA; e.g. 254/8,254/20`);
  return formats;
}

export function parsePort(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > 65535)
    throw new Error(`--metrics-port ${text}: give a port 1..65535 (default ${DEFAULT_METRICS_PORT})`);
  return n;
}

// RFC 1123 label: what Kubernetes accepts as a namespace name.
export function parseNamespace(text: string): string {
  if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(text))
    throw new Error(`--namespace ${text}: a namespace is lowercase letters, digits and '-', at most 63`);
  return text;
}

// A reference as the container runtime takes it: [registry[:port]/]path[:tag][@digest].
export function parseImage(text: string): string {
  if (!/^[a-z0-9]+([._\-/:][a-z0-9]+)*(:[\w][\w.-]{0,127})?(@sha256:[0-9a-f]{64})?$/.test(text))
    throw new Error(`--image ${text}: not an image reference; e.g. registry.example/toa-agent:0.1.0`);
  return text;
}
