// Runs inside a lab guest (test/vm/boot.sh): load and unload the module built for this kernel.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const ko = process.env.TOA_KO ?? '';
const run = (cmd: string, ...args: string[]): string => execFileSync(cmd, args, { encoding: 'utf8' });
let logBefore = '';

test.before(() => {
  assert.ok(ko, 'TOA_KO is unset: run the guest tests through test/vm/boot.sh');
  logBefore = run('dmesg');
});

test('insmod loads the module', () => {
  run('insmod', ko);
  assert.ok(existsSync('/sys/module/toa'), '/sys/module/toa is missing after insmod');
});

test('the module reports version 0.1.0', () => {
  assert.is(readFileSync('/sys/module/toa/version', 'utf8').trim(), '0.1.0');
});

test('rmmod unloads it', () => {
  run('rmmod', 'toa');
  assert.not.ok(existsSync('/sys/module/toa'), '/sys/module/toa is still there after rmmod');
});

test('the kernel logged no BUG, WARNING or Oops meanwhile', () => {
  const log = run('dmesg');
  // The ring buffer only grows here (2 GiB guest, short run), so the new lines are the tail.
  const fresh = log.startsWith(logBefore) ? log.slice(logBefore.length) : log;
  const bad = fresh.split('\n').filter((line) => /\b(BUG|WARNING|Oops)\b/.test(line));
  assert.equal(bad, [], `kernel log:\n${fresh}`);
});

test.run();
