// The config file as the kubelet delivers it: a ConfigMap volume whose files are symlinks through
// `..data`, swapped atomically on a change. The file's inode never changes under a watcher, so
// the directory is watched; any event there re-reads the file (debounced: one swap is several
// events), and a slow poll covers watchers that miss events (some overlay and network mounts).
import { type FSWatcher, readFileSync, watch } from 'node:fs';
import { dirname } from 'node:path';
import { type AgentConfig, parseAgentConfig } from '../k8s/config.js';

export type ConfigEvent = { ok: true; config: AgentConfig; text: string } | { ok: false; reason: string };

/** The file's config, or the one-line reason it is unusable. */
export function readConfig(path: string): ConfigEvent {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    return {
      ok: false,
      reason: `${path}: cannot read (${(e as NodeJS.ErrnoException).code}); mount the ConfigMap toa-config there`,
    };
  }
  try {
    return { ok: true, config: parseAgentConfig(text), text };
  } catch (e) {
    return { ok: false, reason: `${path}: ${(e as Error).message}` };
  }
}

export interface Watcher {
  close(): void;
}

export interface WatchOptions {
  debounceMs?: number;
  pollMs?: number;
}

/**
 * Calls `onChange` with each new reading of `path` whose text differs from the last one seen
 * (`initial`: the text already handled at start). Bad readings are reported too, once per text.
 */
export function watchConfig(
  path: string,
  initial: string | undefined,
  onChange: (e: ConfigEvent) => void,
  o: WatchOptions = {},
): Watcher {
  let last = initial;
  let timer: NodeJS.Timeout | undefined;
  const check = () => {
    timer = undefined;
    const e = readConfig(path);
    const key = e.ok ? e.text : `error: ${e.reason}`;
    if (key === last) return;
    last = key;
    onChange(e);
  };
  const soon = () => {
    clearTimeout(timer);
    timer = setTimeout(check, o.debounceMs ?? 300);
  };
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(dirname(path), soon);
    watcher.on('error', () => {}); // the directory went away: the poll keeps reading
  } catch {
    watcher = undefined;
  }
  const poll = setInterval(check, o.pollMs ?? 30000);
  poll.unref();
  return {
    close() {
      watcher?.close();
      clearInterval(poll);
      clearTimeout(timer);
    },
  };
}
