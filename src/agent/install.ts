// Put the chosen module in the kernel: keep the same one when it is already loaded, replace a
// different one with the shortest gap (everything checked first, then unload and load back to
// back), or load it. The trust list goes in as a load parameter, so there is no moment at which
// a freshly loaded module trusts every source.
import { readFileSync } from 'node:fs';
import { loadedModule } from '../module/kernel.js';
import { loadModule } from '../module/load.js';
import { unloadModule } from '../module/unload.js';
import type { FormatName } from '../wire/index.js';
import type { Candidate } from './choose.js';
import type { Log } from './log.js';

export interface Installed {
  action: 'kept' | 'upgraded' | 'loaded';
  version: string;
  /** upgraded: ms between the old module's unload and the new one's load */
  gapMs?: number;
}

const sysRead = (name: string) => {
  try {
    return readFileSync(`/sys/module/toa/${name}`, 'utf8').trim();
  } catch {
    return '';
  }
};

/** Is the loaded module this file? Same version, and same source hash when both carry one. */
export function sameModule(m: Candidate, loaded: { version: string; srcversion: string }): boolean {
  if (m.version !== loaded.version) return false;
  return !(m.srcversion && loaded.srcversion && m.srcversion !== loaded.srcversion);
}

// The module's own config (applied over netlink right after) replaces these: read() is not used.
const noSysfs = { read: () => ({ trust: [], formats: [] }), apply: () => {} };

export async function installModule(
  m: Candidate,
  config: { trust: string[]; formats: FormatName[] },
  log: Log,
): Promise<Installed> {
  const load = () =>
    loadModule({
      ko: m.ko,
      ...(config.trust.length && { trust: config.trust }),
      formats: config.formats,
      config: noSysfs,
    });
  const loaded = loadedModule();
  if (!loaded) {
    load();
    log(`module: loaded ${m.ko} (version ${m.version})`);
    return { action: 'loaded', version: m.version };
  }
  const current = { version: loaded.version, srcversion: sysRead('srcversion') };
  if (sameModule(m, current)) {
    log(
      `module: toa.ko ${loaded.version} is already loaded (same ${current.srcversion ? 'srcversion' : 'version'}); keeping it`,
    );
    return { action: 'kept', version: loaded.version };
  }
  log(`module: toa.ko ${loaded.version} is loaded, replacing it with ${m.version}`);
  await unloadModule();
  const gone = process.hrtime.bigint();
  load();
  const gapMs = Number(process.hrtime.bigint() - gone) / 1e6;
  log(`module: upgraded ${loaded.version} -> ${m.version}; gap without toa.ko ${gapMs.toFixed(1)} ms`);
  return { action: 'upgraded', version: m.version, gapMs };
}
