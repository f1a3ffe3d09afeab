// The agent's config file, as the ConfigMap carries it (key config.json, mounted at
// /etc/toa/config.json). JSON so the agent parses it without a dependency. The writer and the
// reader live together so that the file `toa k8s manifest` writes is the file the agent takes.
import type { FormatName } from '../wire/index.js';
import { parseCidr, parseFormatList, type Trust } from './options.js';

/** Stands in for the trust list in deploy/; the agent refuses it. */
export const TRUST_PLACEHOLDER = 'EDIT-ME';

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

const FIX = 'write "trust": ["CIDR", ...] naming your load balancers, or "trust": "any"';

/** The agent's reading of the file: every problem is one line naming the fix. */
export function parseAgentConfig(text: string): AgentConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new Error(`config: not JSON (${(e as Error).message})`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new Error('config: write a JSON object {"trust": ..., "formats": [...]}');
  const { trust, formats, ...rest } = raw as Record<string, unknown>;
  const unknown = Object.keys(rest);
  if (unknown.length)
    throw new Error(`config: unknown key ${unknown.join(', ')}; the keys are trust and formats`);
  if (trust === undefined) throw new Error(`config: no trust choice; ${FIX}`);
  if (trust !== 'any' && !(Array.isArray(trust) && trust.every((t) => typeof t === 'string')))
    throw new Error(`config: "trust" must be a list of CIDRs or "any"; ${FIX}`);
  if (Array.isArray(trust)) {
    if (trust.length === 0) throw new Error(`config: an empty trust list would trust any source; ${FIX}`);
    if (trust.includes(TRUST_PLACEHOLDER))
      throw new Error(`config: trust is still the placeholder ${TRUST_PLACEHOLDER}; ${FIX}`);
    if (trust.includes('any')) throw new Error('config: "any" is not a CIDR; write "trust": "any" (no list)');
  }
  const cidrs = Array.isArray(trust)
    ? trust.map((t) => {
        try {
          return parseCidr(t);
        } catch {
          throw new Error(`config: trust ${JSON.stringify(t)} is not a CIDR; ${FIX}`);
        }
      })
    : 'any';
  if (formats !== undefined && !(Array.isArray(formats) && formats.every((f) => typeof f === 'string')))
    throw new Error('config: "formats" must be a list such as ["254/8", "254/20"]');
  const list = formats === undefined ? ['254/8', '254/20'] : (formats as string[]);
  try {
    return { trust: cidrs, formats: parseFormatList(list.join(',')) };
  } catch (e) {
    throw new Error(`config: ${(e as Error).message.replace(/^--formats /, 'formats ')}`);
  }
}
