// The agent's module choice on real files: a prebuilt directory holding a toa.ko really built for
// lab kernel 6.1, the vermagic check against another release, the node's headers staged the way
// the DaemonSet mounts them (scripts/tools into --host-usr-lib), the reasons when headers, kbuild
// or the compiler are missing, and a real build from the staged 6.1 headers. Loading runs in the
// lab (test/guest/agent.test.ts).
import { execFileSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { findPrebuilt, inspectKo } from '../../src/agent/choose.js';
import { missingHeadersFix, stageHeaders } from '../../src/agent/headers.js';
import { sameModule } from '../../src/agent/install.js';
import { obtainModule } from '../../src/agent/obtain.js';
import { configCompiler } from '../../src/module/build.js';

const CACHE = process.env.CACHE ?? join(process.cwd(), '.cache');
const tmp = mkdtempSync(join(tmpdir(), 'toa-agent-module-'));

let ko = '';
let kver = '';
/** The toa.ko built for lab kernel 6.1, and that kernel's release. */
function lab61() {
  if (!ko) {
    ko = execFileSync('test/vm/build-kmod.sh', ['6.1'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    kver = readFileSync(join(CACHE, 'kernels/6.1/kver'), 'utf8').trim();
  }
  return {
    ko,
    kver,
    kernel: { release: kver, version: `Linux version ${kver} (lab) #1 SMP PREEMPT_DYNAMIC Debian` },
  };
}
const modroot = (series: string) => join(CACHE, 'kernels', series, 'root');

/**
 * A node as the pod sees it: DIR/lib/modules/R/build -> DIR/usr/src/linux-headers-R, whose
 * entries link to the lab's unpacked headers except scripts/tools (relative, like Debian's:
 * ../../lib/linux-kbuild-V/..., which resolve inside DIR and are absent there, as in the
 * container) and a Makefile in Debian's own form (absolute paths). The node's /usr/lib is
 * DIR/host-usr-lib with os-release and, unless `kbuild` is false, the kbuild tree.
 */
function fakeNode(series: string, o: { kbuild?: boolean; osRelease?: string } = {}) {
  const release = readFileSync(join(CACHE, 'kernels', series, 'kver'), 'utf8').trim();
  const dir = mkdtempSync(join(tmp, `node-${series}-`));
  const labHeaders = join(modroot(series), 'usr/src', `linux-headers-${release}`);
  const headers = join(dir, 'usr/src', `linux-headers-${release}`);
  mkdirSync(headers, { recursive: true });
  let kbuildName = '';
  for (const name of readdirSync(labHeaders)) {
    if (name === 'scripts' || name === 'tools') {
      const link = readlinkSync(join(labHeaders, name));
      kbuildName = /linux-kbuild-[^/]+/.exec(link)?.[0] ?? '';
      symlinkSync(link, join(headers, name));
    } else if (name === 'Makefile') {
      const common = join(
        modroot(series),
        'usr/src',
        `linux-headers-${release.replace(/-amd64$/, '-common')}`,
      );
      const out = /KBUILD_OUTPUT/.test(readFileSync(join(labHeaders, name), 'utf8'))
        ? `KBUILD_OUTPUT=${headers}\n`
        : '';
      writeFileSync(join(headers, name), `${out}include ${common}/Makefile\n`);
    } else symlinkSync(join(labHeaders, name), join(headers, name));
  }
  mkdirSync(join(dir, 'lib/modules', release), { recursive: true });
  symlinkSync(headers, join(dir, 'lib/modules', release, 'build'));
  const usrLib = join(dir, 'host-usr-lib');
  mkdirSync(usrLib);
  writeFileSync(
    join(usrLib, 'os-release'),
    o.osRelease ?? 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\n',
  );
  if (o.kbuild !== false) symlinkSync(join(modroot(series), 'usr/lib', kbuildName), join(usrLib, kbuildName));
  return { dir, release, headers, libModules: join(dir, 'lib/modules'), usrLib, kbuildName };
}

test.after(() => rmSync(tmp, { recursive: true, force: true }));

test('prebuilt: DIR/RELEASE/toa.ko with a vermagic for this release is chosen, with its version', () => {
  const { ko, kver, kernel } = lab61();
  const dir = join(tmp, 'prebuilt');
  mkdirSync(join(dir, kver), { recursive: true });
  copyFileSync(ko, join(dir, kver, 'toa.ko'));
  const r = findPrebuilt(dir, kernel);
  assert.ok(r.ok, JSON.stringify(r));
  if (!r.ok) return;
  assert.is(r.module.ko, join(dir, kver, 'toa.ko'));
  assert.match(readFileSync('kmod/toa_main.h', 'utf8'), `#define TOA_VERSION "${r.module.version}"`);
  assert.match(r.module.srcversion, /^[0-9A-F]{20,}$/);
});

test('prebuilt: a module whose vermagic names another release is refused, never offered', () => {
  const { ko, kver } = lab61();
  const other = { release: '6.1.0-99-amd64', version: 'Linux version 6.1.0-99-amd64 #1 SMP' };
  const dir = join(tmp, 'prebuilt-mismatch');
  // Filed under the other release: only its vermagic tells it apart.
  mkdirSync(join(dir, other.release), { recursive: true });
  copyFileSync(ko, join(dir, other.release, 'toa.ko'));
  const r = findPrebuilt(dir, other);
  assert.not.ok(r.ok);
  if (r.ok) return;
  assert.is(
    r.reason,
    `${join(dir, other.release, 'toa.ko')} does not fit the running kernel: it was built for ${kver}, this kernel is ${other.release}`,
  );
  const none = findPrebuilt(dir, lab61().kernel);
  assert.is(none.ok ? '' : none.reason, `no prebuilt module for ${kver} (${join(dir, kver, 'toa.ko')})`);
  const junk = join(tmp, 'junk.ko');
  writeFileSync(junk, 'not an ELF file at all, but long enough for the header check......');
  const j = inspectKo(junk, lab61().kernel);
  assert.match(j.ok ? '' : j.reason, 'not a kernel module (no ELF header)');
});

test('same module: version and srcversion decide; a missing srcversion falls back to the version', () => {
  const m = { ko: 'x', version: '0.1.0', srcversion: 'AAAA' };
  assert.ok(sameModule(m, { version: '0.1.0', srcversion: 'AAAA' }));
  assert.ok(sameModule(m, { version: '0.1.0', srcversion: '' }));
  assert.not.ok(sameModule(m, { version: '0.1.0', srcversion: 'BBBB' }));
  assert.not.ok(sameModule(m, { version: '0.2.0', srcversion: 'AAAA' }));
});

test('no headers: the package to install, exactly on Debian/Ubuntu, generically elsewhere', () => {
  const r = '6.8.0-45-generic';
  assert.is(
    missingHeadersFix(r, 'PRETTY_NAME="Ubuntu 24.04.1 LTS"\nID=ubuntu\nID_LIKE=debian\n'),
    'install the package linux-headers-6.8.0-45-generic on the node (Ubuntu 24.04.1 LTS: apt-get install linux-headers-6.8.0-45-generic)',
  );
  assert.match(missingHeadersFix(r, 'ID=debian\n'), 'apt-get install linux-headers-6.8.0-45-generic');
  assert.is(
    missingHeadersFix(
      '5.14.0-427.el9.x86_64',
      'NAME="Rocky Linux"\nID="rocky"\nID_LIKE="rhel centos fedora"\n',
    ),
    'install the kernel headers for 5.14.0-427.el9.x86_64 on the node (Rocky Linux: its kernel headers/devel package), or ship a prebuilt toa.ko for 5.14.0-427.el9.x86_64 in the image',
  );
  assert.match(missingHeadersFix(r, ''), '(unknown distribution: its kernel headers/devel package)');
  const node = join(tmp, 'bare');
  mkdirSync(join(node, 'usr-lib'), { recursive: true });
  writeFileSync(join(node, 'usr-lib/os-release'), 'PRETTY_NAME="Debian GNU/Linux 13 (trixie)"\nID=debian\n');
  const s = stageHeaders({
    release: '6.12.9-amd64',
    libModules: join(node, 'lib/modules'),
    hostUsrLib: join(node, 'usr-lib'),
    stateDir: join(node, 'state'),
  });
  assert.is(
    s.ok ? '' : s.reason,
    `no kernel headers for 6.12.9-amd64 on this node (${join(node, 'lib/modules/6.12.9-amd64/build')}): install the package linux-headers-6.12.9-amd64 on the node (Debian GNU/Linux 13 (trixie): apt-get install linux-headers-6.12.9-amd64)`,
  );
});

test("staged headers: scripts/tools point into the node's /usr/lib, the Makefile's own path is the staged one", () => {
  lab61();
  const n = fakeNode('6.1');
  const state = join(n.dir, 'state');
  const s = stageHeaders({
    release: n.release,
    libModules: n.libModules,
    hostUsrLib: n.usrLib,
    stateDir: state,
  });
  assert.ok(s.ok, JSON.stringify(s));
  if (!s.ok) return;
  assert.is(s.dir, join(state, 'headers', n.release));
  assert.is(readlinkSync(join(s.dir, 'scripts')), join(n.usrLib, n.kbuildName, 'scripts'));
  assert.ok(existsSync(join(s.dir, 'scripts/basic')));
  assert.is(readlinkSync(join(s.dir, '.config')), join(n.headers, '.config'));
  assert.is(s.compiler, 'gcc-12');
  // The -common tree it includes (the kernel's own Makefile, scripts linking into linux-kbuild)
  // is staged beside it: a copied Makefile (kbuild takes its tree from its real path), scripts
  // relocated, the include pointed there.
  const common = `linux-headers-${n.release.replace(/-amd64$/, '-common')}`;
  const stagedCommon = join(state, 'headers', `${common}.src`);
  assert.is(readFileSync(join(s.dir, 'Makefile'), 'utf8'), `include ${stagedCommon}/Makefile\n`);
  assert.ok(lstatSync(join(stagedCommon, 'Makefile')).isFile());
  assert.is(readlinkSync(join(stagedCommon, 'scripts')), join(n.usrLib, n.kbuildName, 'scripts'));
  assert.is(readlinkSync(join(stagedCommon, 'include')), join(modroot('6.1'), 'usr/src', common, 'include'));
  // Debian 7.x style: KBUILD_OUTPUT names the headers' own directory.
  writeFileSync(
    join(n.headers, 'Makefile'),
    `KBUILD_OUTPUT=${n.headers}\ninclude /usr/src/linux-headers-X-common/Makefile\n`,
  );
  const again = stageHeaders({
    release: n.release,
    libModules: n.libModules,
    hostUsrLib: n.usrLib,
    stateDir: state,
  });
  assert.ok(again.ok);
  assert.is(
    readFileSync(join(state, 'headers', n.release, 'Makefile'), 'utf8'),
    `KBUILD_OUTPUT=${join(state, 'headers', n.release)}\ninclude /usr/src/linux-headers-X-common/Makefile\n`,
  );
});

test("staged headers: kbuild missing from the node's /usr/lib, or a compiler the image lacks, is named", () => {
  lab61();
  const n = fakeNode('6.1', { kbuild: false });
  const s = stageHeaders({
    release: n.release,
    libModules: n.libModules,
    hostUsrLib: n.usrLib,
    stateDir: join(n.dir, 'state'),
  });
  assert.match(
    s.ok ? '' : s.reason,
    `the headers' scripts link to ${n.kbuildName}, not in the node's /usr/lib (${join(n.usrLib, n.kbuildName, 'scripts')}): install ${n.kbuildName} on the node`,
  );
  assert.is(
    configCompiler('CONFIG_CC_VERSION_TEXT="x86_64-linux-gnu-gcc-14 (Debian 14.2.0-19) 14.2.0"\n'),
    'x86_64-linux-gnu-gcc-14',
  );
  const m = fakeNode('6.1');
  // The same tree, but its .config names a compiler no image has.
  rmSync(join(m.headers, '.config'));
  writeFileSync(join(m.headers, '.config'), 'CONFIG_CC_VERSION_TEXT="gcc-99 (Nowhere 99.0) 99.0"\n');
  const c = stageHeaders({
    release: m.release,
    libModules: m.libModules,
    hostUsrLib: m.usrLib,
    stateDir: join(m.dir, 'state'),
  });
  assert.is(
    c.ok ? '' : c.reason,
    `the headers for ${m.release} were made with gcc-99, which this image lacks: building is unavailable on this node; ship a prebuilt toa.ko for ${m.release}`,
  );
});

test('obtain: --prebuilt-only without a fitting module fails with the reason; with headers it builds', async () => {
  const { kernel } = lab61();
  const lines: string[] = [];
  const n = fakeNode('6.1');
  const base = {
    kernel,
    prebuiltDir: join(tmp, 'empty'),
    libModules: n.libModules,
    hostUsrLib: n.usrLib,
    stateDir: join(n.dir, 'state'),
    log: (l: string) => lines.push(l),
  };
  const off = await obtainModule({ ...base, build: false });
  assert.is(off.source, 'failed');
  assert.match(
    off.source === 'failed' ? off.reason : '',
    `and building is off (--prebuilt-only): ship a toa.ko for ${kernel.release}`,
  );
  const built = await obtainModule({ ...base, build: true });
  assert.is(built.source, 'built', JSON.stringify(built));
  if (built.source === 'failed') return;
  assert.is(built.module.ko, join(n.dir, 'state/build', kernel.release, 'toa.ko'));
  assert.ok(
    lines.some((l) => l.startsWith(`module: building for ${kernel.release} from the node's headers`)),
    lines.join('\n'),
  );
  assert.ok(
    lines.some((l) => /^module: built .* in \d+ ms$/.test(l)),
    lines.join('\n'),
  );
});

test('obtain: aborting (the agent stopping) stops a running build: make is signalled, the reason says so', async () => {
  const { kernel } = lab61();
  const n = fakeNode('6.1');
  const stop = new AbortController();
  let abortedAt = 0;
  const got = await obtainModule({
    kernel,
    prebuiltDir: join(tmp, 'empty'),
    build: true,
    libModules: n.libModules,
    hostUsrLib: n.usrLib,
    stateDir: join(n.dir, 'state'),
    signal: stop.signal,
    // The first compiler line: make and gcc are running.
    log: (l) => {
      if (!abortedAt && l.startsWith('build: ')) {
        abortedAt = Date.now();
        stop.abort();
      }
    },
  });
  assert.ok(abortedAt, 'the build never started');
  assert.equal(got, {
    source: 'failed',
    reason: `building toa.ko for ${kernel.release} failed: make stopped: the build was cancelled`,
  });
  assert.ok(Date.now() - abortedAt < 5000, `the build went on for ${Date.now() - abortedAt} ms`);
  assert.not.ok(existsSync(join(n.dir, 'state/build', kernel.release, 'toa.ko')));
});

test.run();
