// Which toa.ko fits this node: a prebuilt one for exactly its release (PREBUILT/RELEASE/toa.ko),
// checked by its vermagic like `toa load` does, so a mismatch is never offered to the kernel.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { MODULE, type RunningKernel, vermagicMismatch } from '../module/kernel.js';
import { readModInfo } from '../module/modinfo.js';

export interface Candidate {
  ko: string;
  /** MODULE_VERSION */
  version: string;
  /** the kernel's hash of the module's sources; '' when absent */
  srcversion: string;
}

export type Prebuilt = { ok: true; module: Candidate } | { ok: false; reason: string };

/** A .ko's identity, or why it cannot be loaded into `kernel`. */
export function inspectKo(ko: string, kernel: RunningKernel): Prebuilt {
  let info: ReturnType<typeof readModInfo>;
  try {
    info = readModInfo(ko);
  } catch (e) {
    return { ok: false, reason: (e as Error).message };
  }
  const name = info.get('name');
  if (name !== undefined && name !== MODULE) return { ok: false, reason: `${ko} is the module '${name}'` };
  const why = vermagicMismatch(info.get('vermagic'), kernel);
  if (why) return { ok: false, reason: `${ko} does not fit the running kernel: ${why}` };
  return {
    ok: true,
    module: { ko, version: info.get('version') ?? '', srcversion: info.get('srcversion') ?? '' },
  };
}

/** The prebuilt module for `kernel` in `dir`, or why there is none usable. */
export function findPrebuilt(dir: string, kernel: RunningKernel): Prebuilt {
  const ko = join(dir, kernel.release, `${MODULE}.ko`);
  if (!existsSync(ko)) return { ok: false, reason: `no prebuilt module for ${kernel.release} (${ko})` };
  return inspectKo(ko, kernel);
}
