// Capabilities of this process (the effective set in /proc/self/status), not its uid: a root in a
// container may lack CAP_SYS_MODULE, and a non-root process may hold it.
import { readFileSync } from 'node:fs';

export const CAP_NET_ADMIN = 12;
export const CAP_SYS_MODULE = 16;
export const CAP_SYS_ADMIN = 21;

const NAMES: Record<number, string> = {
  [CAP_NET_ADMIN]: 'CAP_NET_ADMIN',
  [CAP_SYS_MODULE]: 'CAP_SYS_MODULE',
  [CAP_SYS_ADMIN]: 'CAP_SYS_ADMIN',
};

export function effectiveCaps(status = readFileSync('/proc/self/status', 'utf8')): bigint {
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(status);
  return m ? BigInt(`0x${m[1]}`) : 0n;
}

export const hasCap = (cap: number, caps = effectiveCaps()) => ((caps >> BigInt(cap)) & 1n) === 1n;

/** Throws a one-line error naming what to do when any of `caps` is missing. */
export function requireCaps(what: string, ...caps: number[]): void {
  const have = effectiveCaps();
  const missing = caps.filter((c) => !hasCap(c, have)).map((c) => NAMES[c] ?? `cap ${c}`);
  if (missing.length)
    throw new Error(`${what} needs ${missing.join(' and ')}: run it as root (sudo toa ...)`);
}
