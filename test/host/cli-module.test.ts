// `toa build | load | unload | verify` on the host, where no module can load: usage errors, help,
// the vermagic check on a toa.ko built for a lab kernel, privileges, kbuild itself and DKMS's
// make line against a lab kernel's headers. The loading paths run in test/guest/cli.test.ts.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { headersPackage } from '../../src/module/build.js';
import { cidrContains, parseTrust } from '../../src/module/config.js';
import { vermagicMismatch } from '../../src/module/kernel.js';
import { paramString } from '../../src/module/load.js';
import { parseModInfo, readModInfo } from '../../src/module/modinfo.js';

const CACHE = process.env.CACHE ?? join(process.cwd(), '.cache');
const CLI = ['--import', 'tsx', 'src/cli/main.ts'];

function toa(args: string[], prefix: string[] = []) {
  const [cmd = process.execPath, ...rest] = [...prefix, process.execPath, ...CLI, ...args];
  const r = spawnSync(cmd, rest, { encoding: 'utf8', timeout: 300000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The toa.ko built for lab kernel 6.1 (test/vm/build-kmod.sh downloads the kernel if needed). */
let labKo = '';
let labKver = '';
const ko61 = () => {
  if (!labKo) {
    labKo = execFileSync('test/vm/build-kmod.sh', ['6.1'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    labKver = readFileSync(join(CACHE, 'kernels/6.1/kver'), 'utf8').trim();
  }
  return labKo;
};
const kver61 = () => {
  ko61();
  return labKver;
};
const headers61 = () => join(CACHE, 'kernels/6.1/root/usr/src', `linux-headers-${kver61()}`);
const oneLine = (s: string) => assert.is(s.split('\n').filter(Boolean).length, 1, `one line wanted: ${s}`);

for (const cmd of ['build', 'load', 'unload', 'verify']) {
  test(`toa ${cmd} --help: its options, --json and the exit codes`, () => {
    const r = toa([cmd, '--help']);
    assert.is(r.code, 0);
    assert.match(r.stdout, `Usage: toa ${cmd} [options]`);
    assert.match(r.stdout, '--json');
    assert.match(
      r.stdout,
      'Exit status: 0 done, 1 failed (one line on stderr says why and what to do), 2 bad usage.',
    );
  });
}

const usage: [string[], string][] = [
  [['load', '--bogus'], "error: unknown option '--bogus'"],
  [
    ['load', '--trust', '198.51.100.0/33'],
    'toa load: --trust 198.51.100.0/33: not a CIDR; write ADDR/PREFIX',
  ],
  [['load', '--trust', '10.0.0.0/8,example.com'], 'toa load: --trust example.com: not a CIDR'],
  [
    ['load', '--formats', '254/9'],
    'toa load: --formats 254/9: unknown TOA format "254/9"; valid formats: 254/8',
  ],
  [['load', '--formats', ','], 'toa load: --formats ,: an empty list would accept no TOA at all'],
  [['load', '--ko'], "error: option '--ko <path>' argument missing"],
  [['verify', '--lb', '2001:db8::1'], 'toa verify: --lb 2001:db8::1: give an IPv4 address'],
  [['verify', '--lb', 'lb.example'], 'toa verify: "lb.example" is not an IPv4 or IPv6 address'],
  [['verify', '--timeout', 'soon'], 'toa verify: --timeout soon: give milliseconds, at least 100'],
  [['build', '--kernel', '../../etc'], 'toa build: --kernel ../../etc: not a kernel release'],
  [['unload', 'now'], 'error: too many arguments'],
];
for (const [args, message] of usage) {
  test(`bad usage: toa ${args.join(' ')} -> exit 2, one line`, () => {
    const r = toa(args);
    assert.is(r.code, 2, r.stderr);
    assert.match(r.stderr, message);
    oneLine(r.stderr);
    assert.is(r.stdout, '');
  });
}

test('vermagic, version and name read from the ELF .modinfo of a toa.ko built for lab kernel 6.1', () => {
  const info = readModInfo(ko61());
  assert.match(
    info.get('vermagic') ?? '',
    new RegExp(`^${kver61().replace(/[.+]/g, '\\$&')} SMP .*mod_unload`),
  );
  assert.is(info.get('name'), 'toa');
  assert.is(info.get('version'), JSON.parse(readFileSync('package.json', 'utf8')).version);
  assert.ok(info.entries.some(([k, v]) => k === 'parm' && v.startsWith('trust:')));
});

test('load refuses the 6.1 toa.ko on this host (another kernel): exit 1, says which and what to do', () => {
  const before = existsSync('/sys/module/toa');
  const r = toa(['load', '--ko', ko61(), '--trust', '198.51.100.0/24']);
  assert.is(r.code, 1, r.stderr);
  const host = execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim();
  assert.is(
    r.stderr,
    `toa load: ${ko61()} does not fit the running kernel: it was built for ${kver61()}, this kernel is ${host}; run \`toa build\` for this kernel\n`,
  );
  assert.is(existsSync('/sys/module/toa'), before);
});

test('unreadable or foreign .ko: exit 1, one line naming the fix', () => {
  const dir = mkdtempSync(join(tmpdir(), 'toa-cli-'));
  try {
    const text = join(dir, 'notes.ko');
    writeFileSync(text, 'not an ELF file at all, just text\n');
    const elf = join(dir, 'truncated.ko');
    writeFileSync(elf, readFileSync(ko61()).subarray(0, 4096));
    const xz = join(dir, 'toa.ko.xz');
    writeFileSync(xz, Buffer.from('fd377a585a000004', 'hex'));
    for (const [ko, message] of [
      [join(dir, 'missing.ko'), 'cannot read (ENOENT); check the path, or run `toa build`'],
      [dir, 'cannot read (EISDIR)'],
      [text, 'not a kernel module (no ELF header)'],
      [elf, 'not a kernel module (section table out of bounds)'],
      [xz, 'a compressed module (xz or zstd); decompress it first (xz -dk / zstd -d)'],
    ] as const) {
      const r = toa(['load', '--ko', ko]);
      assert.is(r.code, 1, r.stderr);
      assert.match(r.stderr, `toa load: ${ko}: ${message}`);
      oneLine(r.stderr);
    }
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test('parseModInfo: random and cut bytes give an error, never a crash or a wrong answer', () => {
  const good = readFileSync(ko61());
  for (let i = 0; i < 200; i++) {
    const cut = good.subarray(0, Math.floor(Math.random() * good.length));
    const noisy = Buffer.from(good);
    for (let j = 0; j < 8; j++) noisy[Math.floor(Math.random() * 64)] = Math.floor(Math.random() * 256);
    for (const b of [cut, noisy]) {
      try {
        const info = parseModInfo(b);
        assert.type(info.get('vermagic'), 'string');
      } catch (e) {
        assert.match((e as Error).message, 'not a kernel module');
      }
    }
  }
});

test('vermagicMismatch: the release must match; SMP must agree with /proc/version', () => {
  const k = {
    release: '6.1.0-56-amd64',
    version: 'Linux version 6.1.0-56-amd64 (x) #1 SMP PREEMPT_DYNAMIC Debian',
  };
  assert.is(vermagicMismatch('6.1.0-56-amd64 SMP preempt mod_unload modversions ', k), null);
  assert.is(
    vermagicMismatch('6.12.48+deb12-amd64 SMP preempt mod_unload modversions ', k),
    'it was built for 6.12.48+deb12-amd64, this kernel is 6.1.0-56-amd64',
  );
  assert.is(
    vermagicMismatch('6.1.0-56-amd64 mod_unload ', k),
    'it was built without SMP, this kernel is SMP',
  );
  assert.is(vermagicMismatch(undefined, k), 'it has no vermagic');
});

test('not privileged (CAP_SYS_MODULE dropped, still uid 0): exit 1, one line, nothing read or changed', () => {
  const drop = ['setpriv', '--bounding-set=-sys_module', '--inh-caps=-all'];
  for (const [args, what] of [
    [['load', '--ko', '/nonexistent.ko'], 'load'],
    [['unload'], 'unload'],
  ] as const) {
    const r = toa([...args], drop);
    assert.is(r.code, 1, r.stderr);
    assert.is(r.stderr, `toa ${what}: toa ${what} needs CAP_SYS_MODULE: run it as root (sudo toa ...)\n`);
  }
});

test('verify on a host without the module: exit 1, module step names the fix', () => {
  const r = toa(['verify', '--json']);
  assert.is(r.code, 1);
  const out = JSON.parse(r.stdout);
  assert.equal(out, {
    ok: false,
    steps: [{ step: 'module', ok: false, detail: 'toa.ko is not loaded: run `toa load`' }],
  });
});

test('build without headers: names the Debian or the RHEL package', () => {
  const r = toa(['build', '--kernel', '9.9.9-nothere']);
  assert.is(r.code, 1);
  assert.is(
    r.stderr,
    'toa build: no kernel headers for 9.9.9-nothere at /lib/modules/9.9.9-nothere/build: apt-get install linux-headers-9.9.9-nothere, or pass --headers DIR\n',
  );
  assert.is(
    headersPackage('5.14.0-427.el9.x86_64', 'NAME="Rocky Linux"\nID="rocky"\nID_LIKE="rhel centos fedora"\n'),
    'dnf install kernel-devel-5.14.0-427.el9.x86_64',
  );
  assert.is(
    headersPackage('6.8.0-45-generic', 'ID=ubuntu\nID_LIKE=debian\n'),
    'apt-get install linux-headers-6.8.0-45-generic',
  );
});

test("build: the compiler the headers' .config names must exist (kbuild uses it, not plain gcc)", () => {
  const headers = mkdtempSync(join(tmpdir(), 'toa-headers-'));
  try {
    writeFileSync(join(headers, 'Makefile'), 'all:\n');
    writeFileSync(
      join(headers, '.config'),
      'CONFIG_CC_VERSION_TEXT="x86_64-linux-gnu-gcc-99 (Debian 99.1.0-1) 99.1.0"\n',
    );
    const r = toa(['build', '--kernel', '6.1.0-99-amd64', '--headers', headers]);
    assert.is(r.code, 1);
    assert.is(
      r.stderr,
      'toa build: x86_64-linux-gnu-gcc-99 not found: install it (apt-get install gcc-99)\n',
    );
  } finally {
    rmSync(headers, { recursive: true });
  }
});

test("build: a failing kbuild is reported by its cause, not make's directory bookkeeping", () => {
  const headers = mkdtempSync(join(tmpdir(), 'toa-headers-'));
  const out = mkdtempSync(join(tmpdir(), 'toa-build-'));
  try {
    writeFileSync(join(headers, 'Makefile'), 'include /nonexistent/Kbuild.include\n');
    writeFileSync(join(headers, '.config'), 'CONFIG_CC_VERSION_TEXT="gcc (Debian) 12"\n');
    const r = toa(['build', '--kernel', '6.1.0-99-amd64', '--headers', headers, '--out', out]);
    assert.is(r.code, 1);
    assert.match(
      r.stderr,
      /^toa build: make failed \(exit 2\): Makefile:1: \/nonexistent\/Kbuild\.include: No such file or directory$/m,
    );
  } finally {
    rmSync(headers, { recursive: true });
    rmSync(out, { recursive: true });
  }
});

test('build for lab kernel 6.1 from its headers: progress on stderr, the .ko path on stdout', () => {
  const out = mkdtempSync(join(tmpdir(), 'toa-build-'));
  try {
    const r = toa(['build', '--kernel', kver61(), '--headers', headers61(), '--out', out]);
    assert.is(r.code, 0, r.stderr);
    assert.is(r.stdout, `${out}/toa.ko\n`);
    assert.match(r.stderr, `building toa.ko for ${kver61()} in ${out}`);
    assert.match(r.stderr, /CC \[M\] .*toa_main\.o/);
    assert.match(readModInfo(`${out}/toa.ko`).get('vermagic') ?? '', `${kver61()} SMP`);
    // headers of another kernel than --kernel says: refused after the build, by the vermagic
    const wrong = toa(['build', '--kernel', '6.1.0-1-amd64', '--headers', headers61(), '--out', out]);
    assert.is(wrong.code, 1);
    assert.match(wrong.stderr, `not 6.1.0-1-amd64: --headers ${headers61()} belong to another kernel`);
  } finally {
    rmSync(out, { recursive: true });
  }
});

test('kmod/dkms.conf: name, version and module match the package; its MAKE line builds toa.ko', () => {
  const conf = readFileSync('kmod/dkms.conf', 'utf8');
  const value = (key: string) =>
    new RegExp(`^${key.replace(/[[\]]/g, '\\$&')}="([^"]*)"$`, 'm').exec(conf)?.[1];
  const version = JSON.parse(readFileSync('package.json', 'utf8')).version;
  assert.is(value('PACKAGE_NAME'), 'toa');
  assert.is(value('PACKAGE_VERSION'), version);
  assert.match(readFileSync('kmod/toa_main.h', 'utf8'), `#define TOA_VERSION "${version}"`);
  assert.is(value('BUILT_MODULE_NAME[0]'), 'toa');
  assert.match(readFileSync('kmod/Kbuild', 'utf8'), /^obj-m := toa\.o$/m);
  assert.is(value('AUTOINSTALL'), 'yes');
  // What dkms does: copy the source tree (as make dkms-install puts it in /usr/src), then run
  // MAKE[0] in it with its variables set.
  const tree = mkdtempSync(join(tmpdir(), 'toa-dkms-'));
  try {
    execFileSync('cp', ['-r', 'kmod/.', tree]);
    const make = value('MAKE[0]') ?? '';
    execFileSync('bash', ['-c', `cd "$1" && ${make}`, 'dkms', tree], {
      env: { ...process.env, kernelver: kver61(), kernel_source_dir: headers61() },
      stdio: 'ignore',
    });
    const built = readModInfo(join(tree, `${value('BUILT_MODULE_NAME[0]')}.ko`));
    assert.match(built.get('vermagic') ?? '', `${kver61()} SMP`);
    assert.is(built.get('version'), value('PACKAGE_VERSION'));
    execFileSync('bash', ['-c', `cd "$1" && ${value('CLEAN')}`, 'dkms', tree], {
      env: { ...process.env, kernelver: kver61(), kernel_source_dir: headers61() },
      stdio: 'ignore',
    });
    assert.not.ok(existsSync(join(tree, 'toa.ko')));
  } finally {
    rmSync(tree, { recursive: true });
  }
});

test('parseTrust, cidrContains, paramString', () => {
  assert.equal(parseTrust(['198.51.100.0/24, 2001:db8::/32', '10.1.2.3']), [
    '198.51.100.0/24',
    '2001:db8::/32',
    '10.1.2.3/32',
  ]);
  assert.ok(cidrContains('198.51.100.0/24', '198.51.100.2'));
  assert.not.ok(cidrContains('198.51.100.0/25', '198.51.100.200'));
  assert.not.ok(cidrContains('2001:db8::/32', '198.51.100.2'));
  assert.ok(cidrContains('0.0.0.0/0', '203.0.113.1'));
  assert.is(
    paramString({ trust: ['10.0.0.0/8', '2001:db8::/32'], formats: ['254/8'] }),
    'trust=10.0.0.0/8,2001:db8::/32 formats=254/8',
  );
  assert.is(paramString({}), '');
});

test.run();
