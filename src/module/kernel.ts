// What the running kernel says about itself and about toa.ko: release, vermagic pieces, whether
// the module is loaded and at which version, and its counters.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { release } from 'node:os';

export const MODULE = 'toa';
const SYS = `/sys/module/${MODULE}`;

export interface RunningKernel {
  /** uname -r */
  release: string;
  /** /proc/version: "Linux version 6.1.0-18-amd64 (...) #1 SMP PREEMPT_DYNAMIC Debian ..." */
  version: string;
}

export function runningKernel(): RunningKernel {
  return { release: release(), version: readFileSync('/proc/version', 'utf8').trim() };
}

/**
 * Why a module with this vermagic ("6.1.0-18-amd64 SMP preempt mod_unload modversions") cannot load
 * into `k`, or null when it fits. The release must match exactly; the kernel itself checks the
 * remaining flags and symbol CRCs, and load() reports its refusal too.
 */
export function vermagicMismatch(vermagic: string | undefined, k: RunningKernel): string | null {
  if (!vermagic) return 'it has no vermagic';
  const [built = '', ...flags] = vermagic.trim().split(/\s+/);
  if (built !== k.release) return `it was built for ${built}, this kernel is ${k.release}`;
  const smp = / SMP /.test(k.version);
  if (flags.includes('SMP') !== smp)
    return `it was built ${smp ? 'without' : 'with'} SMP, this kernel is ${smp ? '' : 'not '}SMP`;
  return null;
}

export interface Loaded {
  /** /sys/module/toa/version (MODULE_VERSION) */
  version: string;
  /** live, coming or going */
  state: string;
  refcnt: number;
  /** modules using toa.ko */
  holders: string[];
}

const read = (path: string) => {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return '';
  }
};

/** toa.ko's state, or null when it is not loaded. */
export function loadedModule(): Loaded | null {
  if (!existsSync(SYS)) return null;
  let holders: string[] = [];
  try {
    holders = readdirSync(`${SYS}/holders`);
  } catch {
    holders = [];
  }
  return {
    version: read(`${SYS}/version`),
    state: read(`${SYS}/initstate`) || 'live',
    refcnt: Number(read(`${SYS}/refcnt`) || 0),
    holders,
  };
}

/** /proc/net/toa_stats of this process's network namespace: counter name -> value; null when absent. */
export function readStats(path = '/proc/net/toa_stats'): Map<string, number> | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return null;
  }
  const values = new Map<string, number>();
  for (const line of text.trim().split('\n')) {
    const [name = '', value = ''] = line.split(' ');
    if (name) values.set(name, Number(value));
  }
  return values;
}
