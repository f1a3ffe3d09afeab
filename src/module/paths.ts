// Where the package's own files are, from this module's location (src/ under tsx, dist/src/ built).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'tcp-toa')
      return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('toa: cannot find the tcp-toa package root (package.json)');
    dir = up;
  }
}

export const PACKAGE_ROOT = findRoot();
export const KMOD_SRC = join(PACKAGE_ROOT, 'kmod');

/** Where `toa build` puts a kernel's module by default, and where `toa load` looks first. */
export const defaultBuildDir = (release: string) => join(PACKAGE_ROOT, 'build', 'kmod', release);

/** Places a toa.ko for `release` may be installed (DKMS, then a manual `make modules_install`). */
export const installedKoPaths = (release: string) => [
  join(defaultBuildDir(release), 'toa.ko'),
  `/lib/modules/${release}/updates/dkms/toa.ko`,
  `/lib/modules/${release}/extra/toa.ko`,
  `/lib/modules/${release}/updates/toa.ko`,
];
