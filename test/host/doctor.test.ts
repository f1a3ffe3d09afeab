// `toa doctor` on the host, where toa.ko is not loaded: the binding, why, the module warning, the
// lookup's ENOPROTOOPT, the exit status, and TOA_DEBUG=1.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Diagnosis } from '../../src/binding/diagnose.js';

function doctor(env: Record<string, string>, ...args: string[]) {
  const { TOA_BINDING: _, TOA_DEBUG: __, ...rest } = process.env;
  return spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'doctor', ...args], {
    encoding: 'utf8',
    env: { ...rest, ...env },
  });
}

test('text: the addon, toa.ko not loaded is a warning, the lookup says ENOPROTOOPT, exit 0', () => {
  const r = doctor({});
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /^binding {3}addon$/m);
  assert.match(r.stdout, /^toa\.ko {4}not loaded$/m);
  assert.match(r.stdout, /ENOPROTOOPT: not loaded\); originalPeer\(\) via peer/);
  assert.match(r.stdout, /^node {6}v\d+\.\d+\.\d+, ABI \d+, N-API \d+$/m);
  assert.match(r.stdout, /^warning: toa\.ko is not loaded/m);
  assert.match(r.stdout, /^ok$/m);
});

test('--json, TOA_BINDING=ffi: the forced binding, the same answers', () => {
  const r = doctor({ TOA_BINDING: 'ffi' }, '--json');
  assert.is(r.status, 0, r.stderr);
  const d = JSON.parse(r.stdout) as Diagnosis;
  assert.equal(d.binding, { kind: 'ffi', forced: 'ffi', addonError: null, error: null });
  assert.equal(d.module, { loaded: false, version: null });
  assert.is(d.lookup.errno, 92);
  assert.is(d.lookup.answers, false);
  assert.is(d.lookup.peerVia, 'peer');
  assert.is(d.node.abi, process.versions.modules);
  assert.ok(d.ok);
});

test('a bad TOA_BINDING: no binding, the reason, exit 1', () => {
  const r = doctor({ TOA_BINDING: 'napi' });
  assert.is(r.status, 1);
  assert.match(r.stdout, /^binding {3}none: TOA_BINDING=napi is not a binding: use addon or ffi/m);
  assert.match(r.stdout, /^not ok/m);
});

test('TOA_DEBUG=1 names the chosen binding once, on stderr', () => {
  const r = doctor({ TOA_DEBUG: '1' });
  assert.is(r.status, 0);
  assert.equal(r.stderr.match(/binding: \w+/g), ['binding: addon']);
});

test('an install whose addon is missing or broken: ffi-rs serves, doctor says why, exit 0', () => {
  assert.ok(existsSync('dist/src/cli/main.js'), 'dist/ is not built: run npm run build (make build)');
  const pkg = mkdtempSync(join(tmpdir(), 'toa-pkg-'));
  try {
    cpSync('dist/src', join(pkg, 'dist/src'), { recursive: true });
    cpSync('package.json', join(pkg, 'package.json'));
    symlinkSync(join(process.cwd(), 'node_modules'), join(pkg, 'node_modules'));
    const run = () =>
      spawnSync(process.execPath, [join(pkg, 'dist/src/cli/main.js'), 'doctor'], { encoding: 'utf8' });
    let r = run();
    assert.is(r.status, 0, r.stderr);
    assert.match(r.stdout, /^binding {3}ffi \(addon: native\/build\/Release\/toa_peer\.node is not built/m);
    assert.match(r.stdout, /^warning: the addon did not load, ffi-rs serves/m);
    mkdirSync(join(pkg, 'native/build/Release'), { recursive: true });
    writeFileSync(join(pkg, 'native/build/Release/toa_peer.node'), 'not an ELF file');
    r = run();
    assert.is(r.status, 0, r.stderr);
    assert.match(r.stdout, /^binding {3}ffi \(addon: cannot load .*toa_peer\.node: .*\)$/m);
  } finally {
    rmSync(pkg, { recursive: true, force: true });
  }
});

test.run();
