// `toa load`: finit_module(2) on a toa.ko checked first (ELF .modinfo: name, vermagic), or, when
// the same version is already loaded, the given trust list and formats applied to it instead.
import { closeSync, existsSync, openSync } from 'node:fs';
import type { FormatName } from '../wire/index.js';
import { CAP_SYS_MODULE, requireCaps } from './caps.js';
import { type ConfigBackend, type ModuleConfig, sysfsConfig } from './config.js';
import { loadedModule, MODULE, runningKernel, vermagicMismatch } from './kernel.js';
import { readModInfo } from './modinfo.js';
import { installedKoPaths } from './paths.js';
import { finitModule } from './syscalls.js';

export interface LoadOptions {
  /** default: the first of installedKoPaths(uname -r) that exists */
  ko?: string;
  trust?: string[];
  formats?: FormatName[];
  config?: ConfigBackend;
}

export interface LoadResult {
  /** loaded: finit_module ran; configured: already loaded, config applied; unchanged: already loaded, nothing to apply */
  action: 'loaded' | 'configured' | 'unchanged';
  ko: string;
  version: string;
  config: ModuleConfig;
}

export function findKo(release: string): string {
  const found = installedKoPaths(release).find((p) => existsSync(p));
  if (!found) throw new Error(`no toa.ko for ${release}: run \`toa build\` first, or pass --ko PATH`);
  return found;
}

/** The module's param string: `trust=a,b formats=x,y` (no spaces inside values). */
export function paramString(o: Pick<LoadOptions, 'trust' | 'formats'>): string {
  const params: string[] = [];
  if (o.trust?.length) params.push(`trust=${o.trust.join(',')}`);
  if (o.formats) params.push(`formats=${o.formats.join(',')}`);
  return params.join(' ');
}

/** Checks the .ko against the running kernel; returns its version. */
export function checkKo(ko: string): string {
  const info = readModInfo(ko);
  const name = info.get('name');
  if (name !== undefined && name !== MODULE)
    throw new Error(
      `${ko} is the module '${name}', not ${MODULE}; pass the toa.ko that \`toa build\` printed`,
    );
  const why = vermagicMismatch(info.get('vermagic'), runningKernel());
  if (why)
    throw new Error(`${ko} does not fit the running kernel: ${why}; run \`toa build\` for this kernel`);
  return info.get('version') ?? '';
}

const LOAD_ERRORS: Record<string, string> = {
  EPERM: 'module loading is not permitted (kernel.modules_disabled, lockdown, or missing CAP_SYS_MODULE)',
  EKEYREJECTED:
    'the kernel requires signed modules (Secure Boot); sign toa.ko or install it through DKMS with its MOK key',
  EBADMSG:
    'the kernel requires signed modules (Secure Boot); sign toa.ko or install it through DKMS with its MOK key',
  ENOEXEC: 'the kernel rejected the module format or symbol versions (see dmesg); rebuild with `toa build`',
  EINVAL: 'the kernel rejected the module or its parameters (see dmesg)',
  ENOENT: 'the kernel lacks a symbol toa.ko needs (see dmesg); rebuild with `toa build`',
};

export function loadModule(o: LoadOptions = {}): LoadResult {
  requireCaps('toa load', CAP_SYS_MODULE);
  const config = o.config ?? sysfsConfig;
  const ko = o.ko ?? findKo(runningKernel().release);
  const version = checkKo(ko);
  const loaded = loadedModule();
  if (loaded) {
    if (loaded.version !== version)
      throw new Error(`toa.ko ${loaded.version} is loaded and ${ko} is ${version}: run \`toa unload\` first`);
    const change: Partial<ModuleConfig> = {};
    if (o.trust) change.trust = o.trust;
    if (o.formats) change.formats = o.formats;
    const changed = Object.keys(change).length > 0;
    if (changed) config.apply(change);
    return { action: changed ? 'configured' : 'unchanged', ko, version, config: config.read() };
  }
  let fd: number;
  try {
    fd = openSync(ko, 'r');
  } catch (e) {
    throw new Error(`${ko}: cannot open (${(e as NodeJS.ErrnoException).code}); check the path`);
  }
  try {
    const r = finitModule(fd, paramString(o));
    if (r.value < 0 && r.code === 'EEXIST')
      throw new Error('toa.ko was loaded meanwhile by someone else: run `toa load` again to configure it');
    if (r.value < 0) throw new Error(`finit_module ${ko}: ${r.code}: ${LOAD_ERRORS[r.code] ?? r.message}`);
  } finally {
    closeSync(fd);
  }
  return { action: 'loaded', ko, version, config: config.read() };
}
