// The agent's config file, as the ConfigMap carries it (key config.json, mounted at
// /etc/toa/config.json). JSON so the agent parses it without a dependency.
import type { FormatName } from '../wire/index.js';
import type { Trust } from './options.js';

/** What the agent refuses to run with; stands in for the trust list in deploy/. */
export const TRUST_PLACEHOLDER = 'EDIT-ME: your load balancers CIDRs, or "any"';

export interface AgentConfig {
  /** CIDRs whose TOA is believed, or "any" (the kernel's empty trust list). Never empty. */
  trust: string[] | 'any';
  formats: FormatName[];
}

export function agentConfig(trust: Trust, formats: FormatName[]): AgentConfig {
  if (trust.kind === 'any') return { trust: 'any', formats };
  return { trust: trust.kind === 'cidrs' ? trust.cidrs : [TRUST_PLACEHOLDER], formats };
}

/** Stable text: a change of the ConfigMap is a change of meaning, never of layout. */
export const configText = (config: AgentConfig) => `${JSON.stringify(config, null, 2)}\n`;
