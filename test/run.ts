// The one test command: runs every suite (lint, types, host tests, fuzzing, the QEMU kernel lab),
// streams their output, and ends with the plain `N passed, N failed` line that uvu does not print.
// Lab suites run LAB_JOBS at a time (default: the CPUs, at most 2), each kernel's suites in order
// (they share its build directory); a suite's output is printed whole when it ends.
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, stripVTControlCharacters } from 'node:util';
import { cyclesDone, textPatchingFault } from './fault.js';
import { pool } from './pool.js';
import { symbolOf, toaProbes } from './probes.js';

interface Suite {
  name: string;
  cmd: string[];
  /** uvu suites report their own counts; others count as one test by exit status. */
  uvu: boolean;
  env?: Record<string, string>;
}

interface Outcome {
  passed: number;
  failed: number;
}

interface Finished extends Outcome {
  code: number | null;
  output: string;
  seconds: number;
}

interface Result extends Outcome {
  name: string;
  seconds: number;
  /** Failed the same way as the baseline module: the emulator's or the kernel's, not counted. */
  shared?: string;
}

// Multi-threaded TCG sometimes runs stale code after the guest kernel patches its own text
// (kprobe arm/disarm): a baseline module with empty probes on the same symbols locks up or
// oopses the same way (issue 3). The suites run single-threaded unless LAB_ACCEL says otherwise;
// the unload suites run in both modes whatever it says.
const SINGLE = 'tcg,thread=single';
const MULTI = 'tcg';
const LAB_ACCEL = process.env.LAB_ACCEL ?? SINGLE;
// qemu runs -smp 2: multi-threaded TCG keeps two host cores busy, single-threaded one.
const coresFor = (accel: string) => (accel.includes('thread=single') ? 1 : 2);
const LAB_JOBS = Number(process.env.LAB_JOBS ?? Math.min(availableParallelism(), 2));
const BUILD = process.env.BUILD ?? fileURLToPath(new URL('../build', import.meta.url));
// The lab's default (600 s) is tight for a kernel that shares the host with another.
const LAB_TIMEOUT = process.env.LAB_TIMEOUT ?? '1500';

const UVU_GUEST = ['node', '--import', 'tsx', 'node_modules/uvu/bin.js', 'test/guest'];
// Three boots per kernel, so that none nears LAB_TIMEOUT and LAB_JOBS run them side by side: the
// kernel data path (module, stash, binding, inspector, LB, netlink) and the `toa` CLI's commands
// (each starts node processes and a private netns: slow under TCG).
// The agent image's pod (pod.test.ts) and the agent (agent.test.ts) start node processes too, and
// on 6.1 build toa.ko under TCG (5-8 min): a third boot.
const CLI_TESTS = '^(cli|ctl)\\.test\\.ts$';
const AGENT_TESTS = '^(pod|agent)\\.test\\.ts$';
const DATA_TESTS = '^(?!(cli|ctl|pod|agent)\\.)[\\w-]+\\.test\\.ts$';

const { values } = parseArgs({
  options: {
    'host-only': { type: 'boolean', default: false },
    'lab-only': { type: 'boolean', default: false },
    'skip-unload': { type: 'boolean', default: false },
    'unload-cycles': { type: 'string', default: '50' },
    'fuzz-seconds': { type: 'string', default: '60' },
    kernels: { type: 'string', default: '5.10 6.1 6.12 7' },
  },
});
const CYCLES = Number(values['unload-cycles']);
if (!Number.isInteger(CYCLES) || CYCLES < 1) {
  console.error(`--unload-cycles ${values['unload-cycles']}: want a whole number of cycles, e.g. 50`);
  process.exit(2);
}
if (!Number.isInteger(LAB_JOBS) || LAB_JOBS < 1) {
  console.error(`LAB_JOBS=${process.env.LAB_JOBS}: want a whole number of lab suites at once, e.g. 2`);
  process.exit(2);
}

function hostSuites(): Suite[] {
  return [
    { name: 'lint', cmd: ['npx', 'biome', 'check', '.'], uvu: false },
    { name: 'checkpatch', cmd: ['test/checkpatch.sh'], uvu: false },
    { name: 'typecheck', cmd: ['npx', 'tsc', '--noEmit', '-p', 'tsconfig.json'], uvu: false },
    {
      name: 'host tests',
      cmd: ['node', '--import', 'tsx', 'node_modules/uvu/bin.js', 'test/host', '\\.test\\.ts$'],
      uvu: true,
    },
  ];
}

const fuzz: Suite = {
  name: `fuzz ${values['fuzz-seconds']} s`,
  cmd: ['make', '-s', 'fuzz', `FUZZ_SECONDS=${values['fuzz-seconds']}`],
  uvu: false,
};

const labSuite = (series: string): Suite => ({
  name: `lab ${series}`,
  cmd: ['test/vm/boot.sh', series, ...UVU_GUEST, DATA_TESTS],
  uvu: true,
  env: { LAB_ACCEL },
});

/** Results in $BUILD/lab/SERIES-cli. */
const cliSuite = (series: string): Suite => ({
  name: `lab ${series} cli`,
  cmd: ['test/vm/boot.sh', series, ...UVU_GUEST, CLI_TESTS],
  uvu: true,
  env: { LAB_ACCEL, LAB_TAG: 'cli' },
});

/** Results in $BUILD/lab/SERIES-agent. */
const agentSuite = (series: string): Suite => ({
  name: `lab ${series} agent`,
  // The image `make image` built before the lab (pod.test.ts).
  cmd: ['test/vm/boot.sh', series, 'env', `TOA_IMAGE=${BUILD}/image`, ...UVU_GUEST, AGENT_TESTS],
  uvu: true,
  env: { LAB_ACCEL, LAB_TAG: 'agent' },
});

type Module = 'toa' | 'baseline';

/** Where boot.sh keeps a suite's console and results: $BUILD/lab/SERIES-TAG. */
const unloadTag = (module: Module, accel: string) =>
  `${module === 'toa' ? 'unload' : 'baseline'}-${coresFor(accel) === 1 ? 'st' : 'mt'}`;

function unloadSuite(series: string, module: Module, accel: string, cycles: number): Suite {
  const mode = coresFor(accel) === 1 ? 'single-threaded' : 'multi-threaded';
  return {
    name: `unload ${series} ${module === 'toa' ? 'toa.ko' : 'baseline'} ${mode} TCG`,
    cmd: [
      'test/vm/boot.sh',
      series,
      'env',
      `TOA_UNLOAD_MODULE=${module}`,
      `TOA_UNLOAD_CYCLES=${cycles}`,
      'node',
      '--import',
      'tsx',
      'test/guest/unload.ts',
    ],
    uvu: true,
    env: { LAB_ACCEL: accel, LAB_TAG: unloadTag(module, accel) },
  };
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

function outcome(suite: Suite, code: number | null, output: string): Outcome {
  if (!suite.uvu) return code === 0 ? { passed: 1, failed: 0 } : { passed: 0, failed: 1 };
  const counts = uvuCounts(output);
  // A suite that exits non-zero or reports no test at all has failed, whatever it counted.
  if (!counts || counts.passed + counts.failed === 0) return { passed: 0, failed: 1 };
  if (code !== 0 && counts.failed === 0) return { passed: counts.passed, failed: 1 };
  return counts;
}

/** Runs a suite; `live` streams its output, otherwise it is printed whole at the end. */
function run(suite: Suite, live: boolean): Promise<Finished> {
  return new Promise((resolve) => {
    const started = Date.now();
    const header = `\n== ${suite.name}: ${suite.cmd.join(' ')}`;
    console.log(live ? header : `== ${suite.name}: started`);
    const [file, ...args] = suite.cmd as [string, ...string[]];
    const child = spawn(file, args, {
      env: { ...process.env, FORCE_COLOR: '0', LAB_TIMEOUT, ...suite.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const keep = (chunk: Buffer, to: NodeJS.WriteStream) => {
      output += chunk.toString();
      if (live) to.write(chunk);
    };
    child.stdout.on('data', (c: Buffer) => keep(c, process.stdout));
    child.stderr.on('data', (c: Buffer) => keep(c, process.stderr));
    const done = (code: number | null, o: Outcome) => {
      const seconds = (Date.now() - started) / 1000;
      if (!live) process.stdout.write(`${header}\n${output}`);
      console.log(
        `== ${suite.name}: exit ${code}, ${o.passed} passed, ${o.failed} failed, ${seconds.toFixed(1)} s`,
      );
      resolve({ ...o, code, output, seconds });
    };
    child.on('error', (err) => {
      output += `could not start: ${err.message}\n`;
      done(null, { passed: 0, failed: 1 });
    });
    child.on('close', (code) => done(code, outcome(suite, code, output)));
  });
}

const results: Result[] = [];
const record = (name: string, f: Finished): void => {
  results.push({ name, passed: f.passed, failed: f.failed, seconds: f.seconds });
};

// What the guest's kernel said when it went wrong: boot.sh exits 124 on a hang, 125 when the
// guest died (panic; the unload program panics lockups), and test/guest/unload.ts prints the
// kernel's complaints as `unload: kernel log: ...` when the guest lived on.
type Fault = 'hang' | 'crash' | 'kernel log' | 'check';
const FAULT_LINE =
  /\b(BUG|WARNING|Oops)\b|Kernel panic|soft lockup|hard LOCKUP|detected stall|general protection|RIP: /;

function fault(f: Finished): Fault {
  if (f.code === 124) return 'hang';
  if (f.code === 125) return 'crash';
  return f.output.includes('unload: kernel log:') ? 'kernel log' : 'check';
}

function trace(f: Finished, dir: string): string {
  const fromGuest = f.output.split('\n').filter((l) => l.startsWith('unload: kernel log:'));
  if (fromGuest.length) return fromGuest.slice(0, 40).join('\n');
  const log = join(dir, 'console.log');
  const lines = existsSync(log) ? readFileSync(log, 'utf8').split('\n') : [];
  const at = lines.findIndex((l) => FAULT_LINE.test(l));
  const excerpt = at < 0 ? lines.slice(-30) : lines.slice(Math.max(0, at - 2), at + 38);
  return `${log}:\n${excerpt.join('\n')}`;
}

const BASELINE_BOOTS = 3;
// Boots of toa.ko's multi-threaded cycles when the kernel's own code patching faults (test/fault.ts):
// each such boot keeps the cycles it completed, the next runs the rest.
const PATCHING_BOOTS = 4;
const PROBED = toaProbes().map(symbolOf);

// The essence of a trace for the summary (CI keeps only the tail of the output): the fault
// line, RIP, and the reliable frames of the call trace (those without "?").
const brief: string[] = [];
function essence(name: string, excerpt: string): void {
  const keep = excerpt
    .split('\n')
    .map((l) => l.replace(/^unload: kernel log:\s*/, '').replace(/^\[\s*\d+\.\d+\]\s*/, ''))
    .filter((l) => FAULT_LINE.test(l) || /^\s*RIP: 0010|^\s*[a-z_][\w.]*\+0x[0-9a-f]+\/0x/.test(l))
    .slice(0, 14);
  brief.push(`  ${name}:`, ...keep.map((l) => `    ${l.trim()}`));
}

const consoleOf = (dir: string) => {
  const log = join(dir, 'console.log');
  return existsSync(log) ? readFileSync(log, 'utf8') : '';
};

/**
 * toa.ko's unload cycles under multi-threaded TCG. A boot cut short by the kernel's own live
 * patching (test/fault.ts: the signatures the baseline module produces too, with no toa.ko frame)
 * keeps the cycles it completed and the next boot runs the rest, up to PATCHING_BOOTS boots; its
 * console is kept as console.patching-N.log and the fault is listed in the summary. Any other
 * kernel fault: the baseline's cycles under the same mode decide whose it is. Leaves
 * $BUILD/lab/SERIES-unload-mt/verdict (ok | shared | failed) for .ci/run.
 */
async function unloadMulti(series: string, lab: ReturnType<typeof pool>): Promise<void> {
  const dir = join(BUILD, 'lab', `${series}-${unloadTag('toa', MULTI)}`);
  const verdict = (v: string) => {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'verdict'), `${v}\n`);
  };
  const name = unloadSuite(series, 'toa', MULTI, CYCLES).name;
  const patching: string[] = [];
  let done = 0;
  let mt: Finished | undefined;
  let seconds = 0;
  for (let boot = 1; boot <= PATCHING_BOOTS; boot++) {
    const rest = Math.max(1, CYCLES - done);
    mt = await lab(coresFor(MULTI), () => run(unloadSuite(series, 'toa', MULTI, rest), false));
    seconds += mt.seconds;
    if (mt.failed === 0) break;
    const text = consoleOf(dir);
    const what = fault(mt) === 'crash' ? textPatchingFault(text, PROBED) : null;
    if (!what) break;
    const kept = join(dir, `console.patching-${boot}.log`);
    copyFileSync(join(dir, 'console.log'), kept);
    done += cyclesDone(mt.output);
    patching.push(`${what} after ${done} cycles in all (${kept})`);
    console.log(
      `== ${name}: boot ${boot}: the kernel's code patching faulted: ${what}; ${done} of ${CYCLES} cycles done`,
    );
  }
  if (!mt) throw new Error('unreachable: no boot');
  const finished: Finished = { ...mt, seconds };
  if (patching.length)
    brief.push(`  ${name}: kernel code patching faults (not toa.ko's):`, ...patching.map((p) => `    ${p}`));
  if (mt.failed === 0) {
    verdict(patching.length ? `ok: ${CYCLES} cycles over ${patching.length + 1} boots` : 'ok');
    return record(name, finished);
  }
  if (patching.length === PATCHING_BOOTS) {
    verdict(`failed: ${PATCHING_BOOTS} boots cut short by code patching faults`);
    return record(name, finished);
  }
  const kind = fault(mt);
  if (kind === 'check') {
    verdict('failed');
    console.log(`== ${name}: a check of ours failed (not a kernel fault): toa.ko's failure`);
    return record(name, finished);
  }
  // The emulator's faults come at random: the baseline gets up to BASELINE_BOOTS boots of twice
  // the cycles to show one, so a fault that struck toa.ko by chance is not blamed on it for want
  // of a second roll of the dice.
  const baseline = unloadSuite(series, 'baseline', MULTI, 2 * CYCLES);
  let base = await lab(coresFor(MULTI), () => run(baseline, false));
  for (let boot = 1; boot < BASELINE_BOOTS && base.failed === 0; boot++)
    base = await lab(coresFor(MULTI), () => run(baseline, false));
  const baseKind = fault(base);
  const ours = trace(mt, dir);
  if (base.failed === 0 || baseKind === 'check') {
    verdict('failed');
    console.log(`== ${name}: ${kind}, and the baseline did not fail so: toa.ko's failure\n${ours}`);
    essence(name, ours);
    record(baseline.name, base);
    return record(name, finished);
  }
  const theirs = trace(base, join(BUILD, 'lab', `${series}-${unloadTag('baseline', MULTI)}`));
  const shared = `toa.ko: ${kind}; baseline: ${baseKind}`;
  verdict(`shared: ${shared}`);
  console.log(
    `== ${name}: shared with the baseline: emulator/kernel (${shared})\n` +
      `-- toa.ko:\n${ours}\n-- baseline:\n${theirs}`,
  );
  results.push({ name, passed: 0, failed: 0, seconds, shared });
  results.push({ name: baseline.name, passed: 0, failed: 0, seconds: base.seconds, shared });
}

async function labKernels(kernels: string[]): Promise<void> {
  // Fetched one at a time first: their APT lists are shared.
  for (const series of kernels)
    spawnSync('test/vm/kernel.sh', [series], { stdio: ['ignore', 'ignore', 'inherit'] });
  const lab = pool(LAB_JOBS);
  const kernel = async (series: string) => {
    const boots = [labSuite(series), cliSuite(series), agentSuite(series)].map(async (suite) =>
      record(suite.name, await lab(coresFor(LAB_ACCEL), () => run(suite, false))),
    );
    await Promise.all(boots);
    if (values['skip-unload']) return;
    const st = unloadSuite(series, 'toa', SINGLE, CYCLES);
    record(st.name, await lab(coresFor(SINGLE), () => run(st, false)));
    await unloadMulti(series, lab);
  };
  await Promise.all(kernels.map(kernel));
}

const started = Date.now();
const host = values['host-only'] ? hostSuites() : [...hostSuites(), fuzz];
if (!values['lab-only']) for (const suite of host) record(suite.name, await run(suite, true));
if (!values['host-only']) await labKernels((values.kernels ?? '').split(/\s+/).filter(Boolean));

console.log(`\nSummary (${((Date.now() - started) / 1000).toFixed(0)} s, lab suites ${LAB_JOBS} at a time):`);
for (const r of results) {
  const state = r.shared ? 'shared' : r.failed ? 'FAIL  ' : 'ok    ';
  const what = r.shared
    ? `with the baseline, emulator/kernel: ${r.shared}`
    : `${r.passed} passed, ${r.failed} failed`;
  console.log(`  ${state} ${r.name}: ${what} (${r.seconds.toFixed(0)} s)`);
}
const passed = results.reduce((a, r) => a + r.passed, 0);
const failed = results.reduce((a, r) => a + r.failed, 0);
if (brief.length) console.log(['Kernel faults (essence; whole excerpts above):', ...brief].join('\n'));
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
