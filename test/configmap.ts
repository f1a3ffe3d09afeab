// A ConfigMap volume as the kubelet keeps it (for the agent's tests, host and guest): each key is
// a symlink through `..data`; an update writes a new timestamped directory, points `..data_tmp`
// at it, renames that over `..data` (the one atomic step) and removes the old directory.
import { mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** A ConfigMap volume with key config.json; returns its file path and the swap function. */
export function configMapVolume(dir: string, text: string) {
  mkdirSync(dir, { recursive: true });
  let n = 0;
  let current = '';
  const write = (body: string) => {
    const ts = join(dir, `..2026_11_26_23_00_00.${++n}`);
    mkdirSync(ts);
    writeFileSync(join(ts, 'config.json'), body);
    symlinkSync(ts.slice(dir.length + 1), join(dir, '..data_tmp'));
    renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
    if (current) rmSync(current, { recursive: true });
    current = ts;
  };
  write(text);
  symlinkSync('..data/config.json', join(dir, 'config.json'));
  return { path: join(dir, 'config.json'), swap: write };
}
