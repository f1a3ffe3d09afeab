// The node's kernel headers, made buildable inside the agent's container. Debian's headers link
// `scripts` and `tools` to ../../lib/linux-kbuild-VERSION, which in the container resolves to the
// image's /usr/lib, not the node's; the node's /usr/lib is mounted at --host-usr-lib instead.
// So the agent stages a tree under its state directory: every entry links to the node's, except
// scripts/tools (into HOST_USR_LIB) and the Makefile (its own path, where it names it, rewritten);
// the same for the -common tree the Makefile includes.
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { basename, join } from 'node:path';
import { configCompiler, onPath } from '../module/build.js';

export interface HeadersOptions {
  release: string;
  /** The node's /lib/modules (mounted at the same path in the pod). */
  libModules: string;
  /** The node's /usr/lib. */
  hostUsrLib: string;
  stateDir: string;
}

export type Staged = { ok: true; dir: string; compiler: string } | { ok: false; reason: string };

/** The node's distribution, from its os-release ("" when unreadable). */
export function readNodeOsRelease(hostUsrLib: string): string {
  try {
    return readFileSync(join(hostUsrLib, 'os-release'), 'utf8');
  } catch {
    return '';
  }
}

const osField = (text: string, key: string) =>
  (new RegExp(`^${key}=(.*)$`, 'm').exec(text)?.[1] ?? '').replace(/^["']|["']$/g, '');

/** What to install on the node so that the agent can build: named exactly on Debian and Ubuntu. */
export function missingHeadersFix(release: string, osRelease: string): string {
  const family = `${osField(osRelease, 'ID')} ${osField(osRelease, 'ID_LIKE')}`;
  const name = osField(osRelease, 'PRETTY_NAME') || osField(osRelease, 'NAME');
  if (/\b(debian|ubuntu)\b/.test(family))
    return `install the package linux-headers-${release} on the node (${name || 'Debian/Ubuntu'}: apt-get install linux-headers-${release})`;
  return `install the kernel headers for ${release} on the node (${name || 'unknown distribution'}: its kernel headers/devel package), or ship a prebuilt toa.ko for ${release} in the image`;
}

/**
 * Stages tree SRC as DEST: every entry links to SRC's, except scripts/tools that link into
 * Debian's linux-kbuild (relocated into the node's /usr/lib) and the Makefile, a copy with
 * `rewrite` applied (kbuild takes its source tree from the Makefile's real path, so a link would
 * lead it back to SRC). Returns the reason when a kbuild tree is missing.
 */
function stageTree(
  src: string,
  dest: string,
  o: HeadersOptions,
  rewrite: (text: string) => string,
  fix: () => string,
): string | null {
  rmSync(dest, { recursive: true, force: true });
  mkdirSync(dest, { recursive: true });
  for (const name of readdirSync(src)) {
    const at = join(src, name);
    let target = at;
    if (name === 'scripts' || name === 'tools') {
      let link = '';
      try {
        link = readlinkSync(at);
      } catch {
        // a real directory: nothing to relocate
      }
      const m = /(?:^|\/)lib\/(linux-kbuild-[^/]+)(\/.*)?$/.exec(link);
      if (m) {
        target = join(o.hostUsrLib, m[1] ?? '', m[2] ?? '');
        if (!existsSync(target))
          return `the headers' ${name} link to ${m[1]}, not in the node's /usr/lib (${target}): install ${m[1]} on the node (${fix()})`;
      }
    }
    if (name === 'Makefile') {
      writeFileSync(join(dest, name), rewrite(readFileSync(at, 'utf8')));
      continue;
    }
    symlinkSync(target, join(dest, name));
  }
  return null;
}

export function stageHeaders(o: HeadersOptions): Staged {
  const build = join(o.libModules, o.release, 'build');
  const fix = () => missingHeadersFix(o.release, readNodeOsRelease(o.hostUsrLib));
  if (!existsSync(join(build, 'Makefile')))
    return { ok: false, reason: `no kernel headers for ${o.release} on this node (${build}): ${fix()}` };
  const src = realpathSync(build);
  const root = join(o.stateDir, 'headers');
  const staged = join(root, o.release);
  // Debian's RELEASE tree includes the -common tree's Makefile (the kernel's own), whose scripts
  // and tools link into linux-kbuild too: staged beside it, the include pointed there.
  const makefile = readFileSync(join(src, 'Makefile'), 'utf8');
  const included = [...makefile.matchAll(/^include\s+(\/\S+)\/Makefile\s*$/gm)]
    .map((m) => m[1] ?? '')
    .filter((dir) => existsSync(join(dir, 'Makefile')));
  const replace = (pairs: [string, string][]) => (text: string) =>
    pairs.reduce((t, [from, to]) => t.split(from).join(to), text);
  const moves: [string, string][] = included.map((dir) => [dir, join(root, `${basename(dir)}.src`)]);
  for (const [dir, to] of moves) {
    const why = stageTree(dir, to, o, (t) => t, fix);
    if (why) return { ok: false, reason: why };
  }
  // Debian's 7.x headers set KBUILD_OUTPUT to their own absolute path: point it here.
  const own = [src, readlinkSync(build)].filter((p) => p.startsWith('/'));
  const why = stageTree(
    src,
    staged,
    o,
    replace([
      ...moves.map(([dir, to]): [string, string] => [`${dir}/`, `${to}/`]),
      ...own.map((p): [string, string] => [p, staged]),
    ]),
    fix,
  );
  if (why) return { ok: false, reason: why };
  let config = '';
  try {
    config = readFileSync(join(src, '.config'), 'utf8');
  } catch {
    return { ok: false, reason: `${src}/.config is missing: the headers are incomplete; ${fix()}` };
  }
  const compiler = configCompiler(config);
  if (compiler && !onPath(compiler))
    return {
      ok: false,
      reason: `the headers for ${o.release} were made with ${compiler}, which this image lacks: building is unavailable on this node; ship a prebuilt toa.ko for ${o.release}`,
    };
  if (!onPath('make'))
    return {
      ok: false,
      reason: 'make is missing from this image: building is unavailable; ship a prebuilt toa.ko',
    };
  return { ok: true, dir: staged, compiler };
}
