// The agent's config watcher against a real directory doing what the kubelet does to a ConfigMap
// volume: files are symlinks through `..data`, and an update writes a new timestamped directory,
// points `..data_tmp` at it and renames that over `..data` (one atomic swap), then removes the old.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type ConfigEvent, readConfig, watchConfig } from '../../src/agent/watch.js';
import { configMapVolume } from '../configmap.js';

const tmp = mkdtempSync(join(tmpdir(), 'toa-agent-config-'));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

function events() {
  const seen: ConfigEvent[] = [];
  const waiters: (() => void)[] = [];
  return {
    seen,
    on: (e: ConfigEvent) => {
      seen.push(e);
      for (const w of waiters.splice(0)) w();
    },
    next: (count: number) =>
      new Promise<void>((resolve, reject) => {
        const t = setTimeout(
          () => reject(new Error(`${count} events wanted, got ${JSON.stringify(seen)}`)),
          5000,
        );
        const check = () => {
          if (seen.length >= count) {
            clearTimeout(t);
            resolve();
          } else waiters.push(check);
        };
        check();
      }),
  };
}

test('readConfig: the parsed config, or the reason naming the file', () => {
  const v = configMapVolume(join(tmp, 'read'), '{"trust": ["198.51.100.0/24"]}');
  const r = readConfig(v.path);
  assert.equal(r.ok && r.config, { trust: ['198.51.100.0/24'], formats: ['254/8', '254/20'] });
  v.swap('{"trust": []}');
  const bad = readConfig(v.path);
  assert.is(
    bad.ok ? '' : bad.reason,
    `${v.path}: config: an empty trust list would trust any source; write "trust": ["CIDR", ...] naming your load balancers, or "trust": "any"`,
  );
  const none = readConfig(join(tmp, 'nowhere.json'));
  assert.is(
    none.ok ? '' : none.reason,
    `${join(tmp, 'nowhere.json')}: cannot read (ENOENT); mount the ConfigMap toa-config there`,
  );
});

test('the ..data swap is seen (one event per swap), a bad file is reported, a good one after it too', async () => {
  const v = configMapVolume(join(tmp, 'swap'), '{"trust": ["198.51.100.0/24"]}');
  const first = readConfig(v.path);
  const e = events();
  const w = watchConfig(v.path, first.ok ? first.text : undefined, e.on, { debounceMs: 100, pollMs: 60000 });
  try {
    v.swap('{"trust": ["203.0.113.0/24"], "formats": ["254/8"]}');
    await e.next(1);
    assert.equal(e.seen[0]?.ok && e.seen[0].config, { trust: ['203.0.113.0/24'], formats: ['254/8'] });
    v.swap('{"trust": "EDIT-ME"}');
    await e.next(2);
    assert.is(e.seen[1]?.ok, false);
    assert.match(e.seen[1]?.ok === false ? e.seen[1].reason : '', '"trust" must be a list of CIDRs or "any"');
    v.swap('{"trust": "any"}');
    await e.next(3);
    assert.equal(e.seen[2]?.ok && e.seen[2].config.trust, 'any');
    // The same text again (a resync of an unchanged ConfigMap): no event.
    v.swap('{"trust": "any"}');
    await new Promise((r) => setTimeout(r, 400));
    assert.is(e.seen.length, 3);
  } finally {
    w.close();
  }
});

test('the poll catches a change the directory watch did not report', async () => {
  const v = configMapVolume(join(tmp, 'poll'), '{"trust": "any"}');
  const e = events();
  // Started with another text as "already handled": the first poll reports the file.
  const w = watchConfig(v.path, 'something else', e.on, { debounceMs: 100, pollMs: 200 });
  try {
    await e.next(1);
    assert.equal(e.seen[0]?.ok && e.seen[0].config.trust, 'any');
  } finally {
    w.close();
  }
});

test.run();
