// `toa build`: kbuild on a copy of kmod/ against one kernel's headers tree. A missing tree or
// tool is a one-line error naming the package that provides it on this distribution.
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { cpus, release } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { readModInfo } from './modinfo.js';
import { defaultBuildDir, KMOD_SRC } from './paths.js';

export interface BuildOptions {
  /** Kernel release; default uname -r. */
  kernel?: string;
  /** Headers tree; default /lib/modules/KERNEL/build. */
  headers?: string;
  /** Output directory (gets a copy of the sources and toa.ko); default build/kmod/KERNEL in the package. */
  out?: string;
  onProgress?: (line: string) => void;
  osRelease?: string;
  /** The module's sources; default kmod/ in the package. */
  src?: string;
  /** Aborting stops the build: make gets SIGTERM and the promise rejects. */
  signal?: AbortSignal;
}

export interface BuildResult {
  ko: string;
  kernel: string;
  headers: string;
  vermagic: string;
}

/** The package command providing headers for `kernel` on this host's distribution family. */
export function headersPackage(kernel: string, osRelease = readOsRelease()): string {
  const ids = /^ID(?:_LIKE)?=(.*)$/gm;
  const family = [...osRelease.matchAll(ids)].map((m) => (m[1] ?? '').replace(/"/g, '')).join(' ');
  if (/\b(rhel|fedora|centos|rocky|almalinux|ol|amzn)\b/.test(family))
    return `dnf install kernel-devel-${kernel}`;
  if (/\b(suse|opensuse|sles)\b/.test(family)) return 'zypper install kernel-default-devel';
  return `apt-get install linux-headers-${kernel}`;
}

function readOsRelease(): string {
  try {
    return readFileSync('/etc/os-release', 'utf8');
  } catch {
    return '';
  }
}

/** The compiler a kernel config was made with (CONFIG_CC_VERSION_TEXT's first word): kbuild uses it. */
export function configCompiler(config: string): string {
  const text = /^CONFIG_CC_VERSION_TEXT="([^"]*)"/m.exec(config)?.[1] ?? '';
  return text.split(/\s+/)[0] ?? '';
}

/** The headers' compiler (Debian's headers set CC to it, e.g. gcc-12), else plain gcc. */
function headersCompiler(headers: string): string {
  try {
    return configCompiler(readFileSync(join(headers, '.config'), 'utf8')) || 'gcc';
  } catch {
    return 'gcc';
  }
}

/** Whether `cmd` runs from PATH (the name is passed as an argument, never parsed by the shell). */
export const onPath = (cmd: string) => spawnSync('sh', ['-c', 'command -v "$1"', 'sh', cmd]).status === 0;

function needTool(tool: string, pkg: string): void {
  if (!onPath(tool)) throw new Error(`${tool} not found: install it (${pkg})`);
}

export async function buildModule(o: BuildOptions = {}): Promise<BuildResult> {
  const kernel = o.kernel ?? release();
  if (!/^[\w.+~-]+$/.test(kernel))
    throw new Error(`--kernel ${kernel}: not a kernel release (e.g. ${release()})`);
  const headers = o.headers ?? `/lib/modules/${kernel}/build`;
  if (!existsSync(join(headers, 'Makefile')))
    throw new Error(
      `no kernel headers for ${kernel} at ${headers}: ${headersPackage(kernel, o.osRelease)}, or pass --headers DIR`,
    );
  const debian = !/kernel-devel/.test(headersPackage(kernel, o.osRelease));
  needTool('make', debian ? 'apt-get install make' : 'dnf install make');
  // The package: x86_64-linux-gnu-gcc-14 comes with gcc-14.
  const cc = headersCompiler(headers);
  needTool(cc, debian ? `apt-get install ${cc.replace(/^\w+-linux-gnu-/, '')}` : 'dnf install gcc');
  const out = o.out ?? defaultBuildDir(kernel);
  const progress = o.onProgress ?? (() => {});
  const src = o.src ?? KMOD_SRC;
  try {
    mkdirSync(out, { recursive: true });
    // preserveTimestamps: make rebuilds only what changed since the last copy.
    for (const f of readdirSync(src).filter((n) => /^(Kbuild|Makefile|.*\.[ch])$/.test(n)))
      cpSync(join(src, f), join(out, f), { preserveTimestamps: true });
    if (existsSync(join(src, 'uapi')))
      cpSync(join(src, 'uapi'), join(out, 'uapi'), { recursive: true, preserveTimestamps: true });
  } catch (e) {
    throw new Error(
      `--out ${out}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}; pick a writable directory`,
    );
  }
  progress(`building toa.ko for ${kernel} in ${out} (headers ${headers})`);
  await runMake(out, headers, progress, o.signal);
  const ko = join(out, 'toa.ko');
  const vermagic = readModInfo(ko).get('vermagic') ?? '';
  if (!vermagic.startsWith(`${kernel} `))
    throw new Error(
      `${ko} says vermagic "${vermagic}", not ${kernel}: --headers ${headers} belong to another kernel`,
    );
  return { ko, kernel, headers, vermagic };
}

function runMake(
  dir: string,
  headers: string,
  progress: (line: string) => void,
  signal?: AbortSignal,
): Promise<void> {
  const args = ['-C', dir, `-j${Math.max(1, cpus().length)}`, `KDIR=${headers}`, 'modules'];
  // make passes SIGTERM on to the compilers it runs and removes its half-written targets.
  const child = spawn('make', args, { stdio: ['ignore', 'pipe', 'pipe'], ...(signal && { signal }) });
  const tail: string[] = [];
  const onLine = (line: string) => {
    tail.push(line);
    if (tail.length > 20) tail.shift();
    // kbuild's own progress ("  CC [M]  .../toa_main.o"), the rest only on failure
    if (/^\s+[A-Z]+(\s\[M\])?\s/.test(line)) progress(line.trim());
  };
  createInterface({ input: child.stdout }).on('line', onLine);
  createInterface({ input: child.stderr }).on('line', onLine);
  return new Promise((resolve, reject) => {
    child.on('error', (e) => {
      if (e.name !== 'AbortError') reject(new Error(`make: ${e.message}`));
    });
    child.on('close', (code) => {
      if (code === 0) return resolve();
      if (signal?.aborted) return reject(new Error('make stopped: the build was cancelled'));
      // The cause, not make's bookkeeping: a compiler error, a missing file or rule.
      const said = tail.filter((l) => !/^make(\[\d+\])?: (Entering|Leaving) directory/.test(l));
      const why =
        said.find((l) => /error:|No such file|not found|No rule to make target/.test(l)) ?? said.at(-1) ?? '';
      reject(new Error(`make failed (exit ${code}): ${why.trim()}`));
    });
  });
}
