// Picks the syscall provider once: the addon, else ffi-rs; TOA_BINDING=addon|ffi forces one.
import { debuglog, format } from 'node:util';
import { loadAddon } from './addon.js';
import { loadFfi } from './ffi.js';
import type { BindingKind, Syscalls } from './syscalls.js';

/** NODE_DEBUG=toa, or TOA_DEBUG=1 for those who do not know Node's switch. */
export const debug =
  process.env.TOA_DEBUG === '1'
    ? (fmt: string, ...args: unknown[]) =>
        process.stderr.write(`TOA ${process.pid}: ${format(fmt, ...args)}\n`)
    : debuglog('toa');
let chosen: Syscalls | undefined;
let addonError: string | undefined;

function pick(): Syscalls {
  const forced = process.env.TOA_BINDING ?? '';
  if (forced !== '' && forced !== 'addon' && forced !== 'ffi')
    throw new Error(`TOA_BINDING=${forced} is not a binding: use addon or ffi, or unset it`);
  if (forced !== 'ffi') {
    const addon = loadAddon();
    if (!(addon instanceof Error)) return addon;
    addonError = addon.message;
    if (forced === 'addon')
      throw new Error(`TOA_BINDING=addon but ${addon.message}; rebuild it or unset TOA_BINDING`);
    debug('addon unavailable (%s), trying ffi-rs', addon.message);
  }
  const ffi = loadFfi();
  if (ffi instanceof Error)
    throw new Error(`no binding: ${ffi.message}; build the addon (npm run build:native) to fix`);
  return ffi;
}

export function syscalls(): Syscalls {
  if (!chosen) {
    chosen = pick();
    debug('binding: %s', chosen.kind);
  }
  return chosen;
}

/** Which provider originalPeer() uses: 'addon' (N-API) or 'ffi' (ffi-rs). */
export function bindingKind(): BindingKind {
  return syscalls().kind;
}

/** Why the addon is not the binding: its load error, or undefined (it loaded, or TOA_BINDING=ffi). */
export function addonLoadError(): string | undefined {
  return addonError;
}
