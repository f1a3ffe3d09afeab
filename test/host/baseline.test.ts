// The lab's baseline module (test/vm/baseline/) decides whether a kernel fault under
// multi-threaded TCG is toa.ko's: it is only a fair witness while it probes exactly toa.ko's
// symbols, with the same kinds, in the same order of registration.
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

type Probe = `${'kprobe' | 'kretprobe'} ${string}`;

/** Probes in source order: `.symbol_name = "x"` is a kprobe, `.kp.symbol_name = "x"` a kretprobe. */
function probes(source: string): Probe[] {
  const text = source.replace(/TOA_BASELINE_KRETPROBE\("([^"]+)"\)/g, '.kp.symbol_name = "$1"');
  return [...text.matchAll(/(\.kp)?\.symbol_name = "([^"]+)"/g)].map(
    (m): Probe => `${m[1] ? 'kretprobe' : 'kprobe'} ${m[2]}`,
  );
}

const read = (path: string) => readFileSync(path, 'utf8');

test('toa.ko registers its hooks, then the SYN probes (the order the baseline copies)', () => {
  const main = read('kmod/toa_main.c');
  assert.ok(main.indexOf('toa_hooks_register()') < main.indexOf('toa_syn_register()'));
  const hooks = read('kmod/toa_hooks.c');
  assert.ok(hooks.indexOf('register_kprobes(toa_kp_list') < hooks.indexOf('register_kretprobes(toa_rp_list'));
});

test('the baseline probes toa.ko symbols, kinds and order', () => {
  const toa = [...probes(read('kmod/toa_hooks.c')), ...probes(read('kmod/toa_syn.c'))];
  const baseline = probes(read('test/vm/baseline/toa_baseline.c'));
  assert.ok(toa.length >= 8, `found only ${toa.length} probes in toa.ko's sources`);
  assert.equal(baseline, toa);
});

test.run();
