// The kernel functions toa.ko probes, read from its sources (kmod/toa_hooks.c, kmod/toa_syn.c) in
// registration order: the lab's baseline module must copy them, and the runner recognises the
// kernel's own text-patching faults at their entries.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export type Probe = `${'kprobe' | 'kretprobe'} ${string}`;

/** Probes in source order: `.symbol_name = "x"` is a kprobe, `.kp.symbol_name = "x"` a kretprobe. */
export function probesIn(source: string): Probe[] {
  const text = source.replace(/TOA_BASELINE_KRETPROBE\("([^"]+)"\)/g, '.kp.symbol_name = "$1"');
  return [...text.matchAll(/(\.kp)?\.symbol_name = "([^"]+)"/g)].map(
    (m): Probe => `${m[1] ? 'kretprobe' : 'kprobe'} ${m[2]}`,
  );
}

/** toa.ko's probes, hooks first (toa_init registers them before the SYN probes). */
export function toaProbes(repo = '.'): Probe[] {
  const read = (f: string) => readFileSync(join(repo, 'kmod', f), 'utf8');
  return [...probesIn(read('toa_hooks.c')), ...probesIn(read('toa_syn.c'))];
}

export const symbolOf = (p: Probe): string => p.slice(p.indexOf(' ') + 1);
