// The one test command: runs every suite (lint, types, host tests, fuzzing, the QEMU kernel lab),
// streams their output, and ends with the plain `N passed, N failed` line that uvu does not print.
import { spawn } from 'node:child_process';
import { parseArgs, stripVTControlCharacters } from 'node:util';

interface Suite {
  name: string;
  cmd: string[];
  /** uvu suites report their own counts; others count as one test by exit status. */
  uvu: boolean;
}

interface Outcome {
  passed: number;
  failed: number;
}

// Multi-threaded TCG sometimes runs stale code after the guest kernel patches its own text
// (kprobe arm/disarm): a baseline module with empty probes on the same symbols locks up or
// oopses the same way (issue 3). The suites run single-threaded unless LAB_ACCEL says otherwise.
const LAB_ACCEL = process.env.LAB_ACCEL ?? 'tcg,thread=single';

const GUEST_TESTS = ['node', '--import', 'tsx', 'node_modules/uvu/bin.js', 'test/guest', '\\.test\\.ts$'];

const { values } = parseArgs({
  options: {
    'host-only': { type: 'boolean', default: false },
    'lab-only': { type: 'boolean', default: false },
    'fuzz-seconds': { type: 'string', default: '60' },
    kernels: { type: 'string', default: '5.10 6.1 6.12 7' },
  },
});

function suites(): Suite[] {
  const host: Suite[] = [
    { name: 'lint', cmd: ['npx', 'biome', 'check', '.'], uvu: false },
    { name: 'checkpatch', cmd: ['test/checkpatch.sh'], uvu: false },
    { name: 'typecheck', cmd: ['npx', 'tsc', '--noEmit', '-p', 'tsconfig.json'], uvu: false },
    {
      name: 'host tests',
      cmd: ['node', '--import', 'tsx', 'node_modules/uvu/bin.js', 'test/host', '\\.test\\.ts$'],
      uvu: true,
    },
  ];
  const fuzz: Suite = {
    name: `fuzz ${values['fuzz-seconds']} s`,
    cmd: ['make', '-s', 'fuzz', `FUZZ_SECONDS=${values['fuzz-seconds']}`],
    uvu: false,
  };
  const lab: Suite[] = (values.kernels ?? '')
    .split(/\s+/)
    .filter(Boolean)
    .map((series) => ({
      name: `lab ${series}`,
      cmd: ['test/vm/boot.sh', series, ...GUEST_TESTS],
      uvu: true,
    }));
  if (values['host-only']) return host;
  if (values['lab-only']) return lab;
  return [...host, fuzz, ...lab];
}

// uvu prints "Total: N / Passed: N / Skipped: N"; colours are stripped before reading them.
function uvuCounts(output: string): Outcome | null {
  const plain = stripVTControlCharacters(output);
  const total = [...plain.matchAll(/Total:\s+(\d+)/g)].map((m) => Number(m[1]));
  const passed = [...plain.matchAll(/Passed:\s+(\d+)/g)].map((m) => Number(m[1]));
  if (total.length === 0 || total.length !== passed.length) return null;
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  const skipped = [...plain.matchAll(/Skipped:\s+(\d+)/g)].map((m) => Number(m[1]));
  return { passed: sum(passed), failed: sum(total) - sum(passed) - sum(skipped) };
}

function run(suite: Suite): Promise<Outcome> {
  return new Promise((resolve) => {
    const started = Date.now();
    console.log(`\n== ${suite.name}: ${suite.cmd.join(' ')}`);
    const [file, ...args] = suite.cmd as [string, ...string[]];
    const child = spawn(file, args, {
      env: { ...process.env, FORCE_COLOR: '0', LAB_ACCEL },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const keep = (chunk: Buffer, to: NodeJS.WriteStream) => {
      output += chunk.toString();
      to.write(chunk);
    };
    child.stdout.on('data', (c: Buffer) => keep(c, process.stdout));
    child.stderr.on('data', (c: Buffer) => keep(c, process.stderr));
    child.on('error', (err) => {
      console.log(`== ${suite.name}: could not start: ${err.message}`);
      resolve({ passed: 0, failed: 1 });
    });
    child.on('close', (code) => {
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      let outcome: Outcome;
      if (!suite.uvu) outcome = code === 0 ? { passed: 1, failed: 0 } : { passed: 0, failed: 1 };
      else {
        const counts = uvuCounts(output);
        // A suite that exits non-zero or reports no test at all has failed, whatever it counted.
        if (!counts || counts.passed + counts.failed === 0) outcome = { passed: 0, failed: 1 };
        else if (code !== 0 && counts.failed === 0) outcome = { passed: counts.passed, failed: 1 };
        else outcome = counts;
      }
      console.log(
        `== ${suite.name}: exit ${code}, ${outcome.passed} passed, ${outcome.failed} failed, ${seconds} s`,
      );
      resolve(outcome);
    });
  });
}

const results: Array<[string, Outcome]> = [];
for (const suite of suites()) results.push([suite.name, await run(suite)]);

console.log('\nSummary:');
for (const [name, o] of results)
  console.log(`  ${o.failed ? 'FAIL' : 'ok  '} ${name}: ${o.passed} passed, ${o.failed} failed`);
const passed = results.reduce((a, [, o]) => a + o.passed, 0);
const failed = results.reduce((a, [, o]) => a + o.failed, 0);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
