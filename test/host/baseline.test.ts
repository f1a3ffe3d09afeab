// The lab's baseline module (test/vm/baseline/) decides whether a kernel fault under
// multi-threaded TCG is toa.ko's: it is only a fair witness while it probes exactly toa.ko's
// symbols, with the same kinds, in the same order of registration.
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { probesIn, toaProbes } from '../probes.js';

const read = (path: string) => readFileSync(path, 'utf8');

test('toa.ko registers its hooks, then the SYN probes (the order the baseline copies)', () => {
  const main = read('kmod/toa_main.c');
  assert.ok(main.indexOf('toa_hooks_register()') < main.indexOf('toa_syn_register()'));
  const hooks = read('kmod/toa_hooks.c');
  assert.ok(hooks.indexOf('register_kprobes(toa_kp_list') < hooks.indexOf('register_kretprobes(toa_rp_list'));
});

test('the baseline probes toa.ko symbols, kinds and order', () => {
  const toa = toaProbes();
  assert.ok(toa.length >= 8, `found only ${toa.length} probes in toa.ko's sources`);
  assert.equal(probesIn(read('test/vm/baseline/toa_baseline.c')), toa);
});

test.run();
