// `toa status` and `toa config` on the host, where toa.ko is not loaded: what they say, their exit
// codes, and bad input refused before anything is sent.
import { spawnSync } from 'node:child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

function toa(...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
    encoding: 'utf8',
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('status without the module: says so, exit 1; --json {"loaded": false}', () => {
  let r = toa('status');
  assert.is(r.code, 1);
  assert.is(r.stdout, 'toa.ko is not loaded\n');
  r = toa('status', '--json');
  assert.is(r.code, 1);
  assert.equal(JSON.parse(r.stdout), { loaded: false });
});

test('config get/set without the module: one line naming `toa load`, exit 1', () => {
  for (const args of [
    ['config', 'get'],
    ['config', 'set', '--trust', '198.51.100.0/24'],
  ]) {
    const r = toa(...args);
    assert.is(r.code, 1, args.join(' '));
    assert.match(r.stderr, /^toa config (get|set): toa\.ko is not loaded: run `toa load`\n$/);
  }
});

const BAD: [string[], RegExp][] = [
  [['config', 'set', '--trust', '198.51.100.0/33'], /the prefix must be 0\.\.32/],
  [['config', 'set', '--trust', '198.51.100.0/24,nonsense'], /nonsense/],
  [['config', 'set'], /nothing to set/],
  [['config', 'set', '--trust', '198.51.100.0/24', '--trust-any'], /exclude each other/],
  [['config', 'set', '--enable', '--disable'], /exclude each other/],
  [['config', 'set', '--formats', '254/9'], /unknown TOA format "254\/9"; valid formats: 254\/8/],
  [['status', '--watch', '0'], /want seconds between 0\.1 and 3600/],
  [['config', 'set', '--bogus'], /unknown option/],
];

for (const [args, message] of BAD)
  test(`bad input, refused before the module is asked: toa ${args.join(' ')}`, () => {
    const r = toa(...args);
    assert.is(r.code, 2, r.stderr);
    assert.match(r.stderr, message);
    assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
  });

test('--help of status and config set name the options and exit codes', () => {
  const s = toa('status', '--help');
  assert.is(s.code, 0);
  assert.match(s.stdout, /--watch \[seconds\]/);
  assert.match(s.stdout, /Exit status: 0 done, 1 failed/);
  const c = toa('config', 'set', '--help');
  for (const o of ['--trust <cidr...>', '--trust-any', '--formats <list>', '--enable', '--disable'])
    assert.match(c.stdout, o);
});

test.run();
