// `toa lab lb` flags: parsing into LB options, and bad input as one line on stderr with exit 2,
// before any device or namespace is touched.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { optionsFromFlags, parseEndpoint } from '../../src/cli/lab.js';

const exec = promisify(execFile);

async function toa(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args]);
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

const BASE = {
  vip: ['203.0.113.1:80'],
  backend: ['198.51.100.10:8080@b1', '[2001:db8:b::10]:8080'],
  local: ['198.51.100.1', '2001:db8:b::1'],
  toaFormat: '254/8',
  toaFormat6: '254/20',
  timeout: '300',
  ports: '1024-65535',
  clientDev: 'toalbc%d',
  backendDev: 'toalbb%d',
};

test('endpoints: IPv4 a.b.c.d:port, IPv6 in brackets', () => {
  assert.equal(parseEndpoint('203.0.113.1:80', '--vip'), { address: '203.0.113.1', port: 80 });
  assert.equal(parseEndpoint('[2001:db8::1]:443', '--vip'), { address: '2001:db8::1', port: 443 });
  assert.throws(() => parseEndpoint('2001:db8::1:443', '--vip'), /in brackets/);
  assert.throws(() => parseEndpoint('203.0.113.1:0', '--vip'), /1\.\.65535/);
  assert.throws(() => parseEndpoint('example.com:80', '--vip'), /no host names/);
});

test('flags to options: backends with and without a namespace, client CIDRs, formats, timeout, ports', () => {
  const o = optionsFromFlags({
    ...BASE,
    clientNetns: 'c',
    clientAddr: ['203.0.113.10/24', '2001:db8:c::10'],
  });
  assert.equal(o.backends, [
    { address: '198.51.100.10', port: 8080 },
    { address: '2001:db8:b::10', port: 8080 },
  ]);
  assert.equal(o.backendNetns, ['b1', undefined]);
  assert.equal(o.clientAddrs, ['203.0.113.10/24', '2001:db8:c::10/128']);
  assert.is(o.clientNetns, 'c');
  assert.equal(
    [o.format4, o.format6, o.timeouts?.idleMs, o.ports],
    ['254/8', '254/20', 300_000, [1024, 65535]],
  );
});

test('bad flags: messages that name the fix', () => {
  const bad: [Partial<typeof BASE> & { clientAddr?: string[] }, RegExp][] = [
    [{ vip: [] }, /--vip ADDR:PORT/],
    [{ backend: [] }, /--backend ADDR:PORT/],
    [{ backend: ['198.51.100.10:8080@'] }, /ADDR:PORT@NETNS/],
    [{ local: ['198.51.100'] }, /--local 198\.51\.100: .*not an IPv4/],
    [{ toaFormat: '254/9' }, /--toa-format 254\/9: unknown format/],
    [{ timeout: '0' }, /--timeout 0: give seconds above 0/],
    [{ ports: '2000-1000' }, /--ports 2000-1000: write LOW-HIGH/],
    [{ clientAddr: ['203.0.113.10/33'] }, /--client-addr 203\.0\.113\.10\/33/],
  ];
  for (const [flags, message] of bad) assert.throws(() => optionsFromFlags({ ...BASE, ...flags }), message);
});

test('the CLI: bad input is one line on stderr and exit 2; --help shows every option', async () => {
  const [vip, family, netns, help] = await Promise.all([
    toa('lab', 'lb', '--vip', '203.0.113:80', '--backend', '198.51.100.10:80', '--local', '198.51.100.1'),
    toa('lab', 'lb', '--vip', '203.0.113.1:80', '--backend', '198.51.100.10:80', '--local', '2001:db8::1'),
    toa(
      'lab',
      'lb',
      '--vip',
      '203.0.113.1:80',
      '--backend',
      '198.51.100.10:80@toa-no-such-ns',
      '--local',
      '198.51.100.1',
    ),
    toa('lab', 'lb', '--help'),
  ]);
  for (const [r, message] of [
    [vip, /^toa lab lb: --vip 203\.0\.113:80: .*not an IPv4/],
    [family, /^toa lab lb: backend 198\.51\.100\.10 is IPv4 but no local IPv4 address is given: add --local/],
    [netns, /^toa lab lb: network namespace toa-no-such-ns does not exist: create it with `ip netns add/],
  ] as const) {
    assert.is(r.code, 2, r.stderr);
    assert.match(r.stderr, message);
    assert.is(r.stderr.trim().split('\n').length, 1, 'one line');
    assert.is(r.stdout, '');
  }
  assert.is(help.code, 0);
  for (const flag of [
    '--vip',
    '--backend',
    '--local',
    '--client-netns',
    '--client-addr',
    '--toa-format',
    '--toa-format6',
    '--timeout',
    '--ports',
    '--client-dev',
    '--backend-dev',
    '--log',
  ])
    assert.ok(help.stdout.includes(flag), `--help lists ${flag}`);
});

test.run();
