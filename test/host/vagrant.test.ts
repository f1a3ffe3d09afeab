// vagrant/: the Vagrantfile passes `vagrant validate` (no hypervisor here, so --ignore-provider)
// and a broken copy does not; the provisioning scripts pass shellcheck.
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const exec = promisify(execFile);
const DIR = join(import.meta.dirname, '../../vagrant');

async function run(cmd: string, args: string[], cwd: string): Promise<{ code: number; out: string }> {
  try {
    const { stdout, stderr } = await exec(cmd, args, {
      cwd,
      env: { ...process.env, VAGRANT_CHECKPOINT_DISABLE: '1' },
    });
    return { code: 0, out: stdout + stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, out: err.stdout + err.stderr };
  }
}

/** Validate a copy, so that no .vagrant/ appears in the tree. */
async function validate(edit: (text: string) => string): Promise<{ code: number; out: string }> {
  const tmp = mkdtempSync(join(tmpdir(), 'toa-vagrant-'));
  try {
    cpSync(DIR, tmp, { recursive: true, filter: (src) => !src.includes('.vagrant') });
    const file = join(tmp, 'Vagrantfile');
    writeFileSync(file, edit(readFileSync(file, 'utf8')));
    return await run('vagrant', ['validate', '--ignore-provider'], tmp);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

test('vagrant validate: the Vagrantfile passes, a misspelt setting fails', async () => {
  const ok = await validate((t) => t);
  assert.is(ok.code, 0, ok.out);
  assert.match(ok.out, /validated successfully/);
  const bad = await validate((t) => t.replace('b.vm.hostname', 'b.vm.hostnam'));
  assert.is.not(bad.code, 0);
  assert.match(bad.out, /hostnam/);
  const missing = await validate((t) => t.replace('path: "lb.sh"', 'path: "lb-missing.sh"'));
  assert.is.not(missing.code, 0);
});

test('shellcheck: the provisioning scripts', async () => {
  const scripts = readdirSync(DIR).filter((f) => f.endsWith('.sh'));
  assert.equal(scripts.sort(), ['backend.sh', 'client.sh', 'lb-dnat.sh', 'lb.sh']);
  const r = await run('shellcheck', scripts, DIR);
  assert.is(r.code, 0, r.out);
});

test.run();
