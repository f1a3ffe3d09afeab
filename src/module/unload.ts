// `toa unload`: delete_module(2) with O_NONBLOCK like rmmod: a module in use is never waited for
// in the kernel; EBUSY/EAGAIN is retried a few times here, then reported with who holds it.
import { setTimeout as sleep } from 'node:timers/promises';
import { CAP_SYS_MODULE, requireCaps } from './caps.js';
import { loadedModule, MODULE, readStats } from './kernel.js';
import { deleteModule } from './syscalls.js';

export interface UnloadResult {
  action: 'unloaded' | 'not-loaded';
  version?: string;
  /** sockets with TOA state at unload time (they keep working, answering the LB address); null: unknown */
  socketsTracked: number | null;
  /** SYN TOAs stashed for connections not yet accepted */
  stashEntries: number | null;
  attempts: number;
}

const RETRIES = 5;
const RETRY_MS = 200;

export async function unloadModule(): Promise<UnloadResult> {
  requireCaps('toa unload', CAP_SYS_MODULE);
  const loaded = loadedModule();
  if (!loaded) return { action: 'not-loaded', socketsTracked: null, stashEntries: null, attempts: 0 };
  const stats = readStats();
  const result: UnloadResult = {
    action: 'unloaded',
    version: loaded.version,
    socketsTracked: stats?.get('sockets_tracked') ?? null,
    stashEntries: stats?.get('stash_entries') ?? null,
    attempts: 0,
  };
  for (;;) {
    result.attempts++;
    const r = deleteModule(MODULE);
    if (r.value >= 0 || r.code === 'ENOENT') return result;
    const busy = r.code === 'EBUSY' || r.code === 'EAGAIN';
    if (busy && result.attempts <= RETRIES) {
      await sleep(RETRY_MS);
      continue;
    }
    if (busy) {
      const now = loadedModule();
      const who = now?.holders.length ? `used by ${now.holders.join(', ')}` : `refcnt ${now?.refcnt ?? '?'}`;
      throw new Error(`toa.ko is in use (${who}) after ${result.attempts} tries; stop its users and retry`);
    }
    if (r.code === 'EPERM')
      throw new Error(
        'delete_module: EPERM: unloading is not permitted (lockdown or missing CAP_SYS_MODULE)',
      );
    throw new Error(`delete_module toa: ${r.code}: ${r.message}`);
  }
}
