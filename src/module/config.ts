// The live module's trust list and accepted formats. For now through its parameters in sysfs
// (each write is one call of the kernel's setter under the module's param lock, parsed whole
// before it replaces anything); the generic-netlink client can replace `sysfsConfig` later
// behind the same interface.
import { readFileSync, writeFileSync } from 'node:fs';
import { type FormatName, parseFormats, textToAddress } from '../wire/index.js';

export interface ModuleConfig {
  /** CIDRs allowed to supply a TOA; empty: any source. */
  trust: string[];
  formats: FormatName[];
}

export interface ConfigBackend {
  read(): ModuleConfig;
  /** Apply every given field or none: a failure restores what was changed before it. */
  apply(change: Partial<ModuleConfig>): void;
}

const PARAMS = '/sys/module/toa/parameters';
const list = (text: string) =>
  text
    .trim()
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');

function readParam(name: string): string {
  try {
    return readFileSync(`${PARAMS}/${name}`, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new Error('toa.ko is not loaded: run `toa load`');
    throw new Error(`${PARAMS}/${name}: ${code}; run as root`);
  }
}

function writeParam(name: string, value: string): void {
  try {
    // An empty write would not reach the setter: a lone newline clears the list.
    writeFileSync(`${PARAMS}/${name}`, value === '' ? '\n' : value);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new Error('toa.ko is not loaded: run `toa load`');
    if (code === 'EACCES' || code === 'EPERM') throw new Error(`writing ${name} needs root: run it as root`);
    throw new Error(`the kernel refused ${name}=${value} (${code}); see dmesg`);
  }
}

export const sysfsConfig: ConfigBackend = {
  read: () => ({ trust: list(readParam('trust')), formats: parseFormats(readParam('formats')) }),
  apply(change) {
    const before = sysfsConfig.read();
    const done: (keyof ModuleConfig)[] = [];
    try {
      for (const key of ['trust', 'formats'] as const) {
        const value = change[key];
        if (value === undefined) continue;
        writeParam(key, value.join(','));
        done.push(key);
      }
    } catch (e) {
      for (const key of done.reverse()) writeParam(key, before[key].join(','));
      throw e;
    }
  },
};

/** "a.b.c.d[/len]" or "v6[/len]" → canonical "addr/len"; a one-line error naming the form otherwise. */
export function parseCidr(text: string, flag = '--trust'): string {
  const [address = '', len, ...rest] = text.trim().split('/');
  let bits = 0;
  try {
    bits = textToAddress(address).length * 8;
  } catch {
    bits = 0;
  }
  if (!bits || rest.length || (len !== undefined && !(/^\d{1,3}$/.test(len) && Number(len) <= bits)))
    throw new Error(`${flag} ${text}: not a CIDR; write ADDR/PREFIX (198.51.100.0/24, 2001:db8::/32)`);
  return `${address}/${len ?? bits}`;
}

/** Each item may itself be a comma list: `--trust a,b --trust c`. */
export function parseTrust(items: string[]): string[] {
  return items.flatMap((item) => list(item)).map((c) => parseCidr(c));
}

export function parseFormatList(text: string): FormatName[] {
  try {
    const formats = parseFormats(text);
    if (!formats.length) throw new Error('an empty list would accept no TOA at all');
    return formats;
  } catch (e) {
    throw new Error(`--formats ${text}: ${(e as Error).message}`);
  }
}

/** Is `address` inside `cidr` (canonical "addr/len")? */
export function cidrContains(cidr: string, address: string): boolean {
  const [net = '', len = '0'] = cidr.split('/');
  const a = textToAddress(net);
  const b = textToAddress(address);
  if (a.length !== b.length) return false;
  const plen = Number(len);
  for (let bit = 0; bit < plen; bit++) {
    const mask = 0x80 >> (bit % 8);
    if (((a[bit >> 3] ?? 0) & mask) !== ((b[bit >> 3] ?? 0) & mask)) return false;
  }
  return true;
}
