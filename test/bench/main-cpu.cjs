// Preloaded by test/bench/inspect.ts (node -r): prints the main thread's CPU time at exit. On a
// machine shared with other jobs the wall clock also counts waiting for a CPU; the main thread's
// own time (Linux, 10 ms ticks) is what the wall clock of an idle machine comes to.
const { readFileSync } = require('node:fs');

process.on('exit', () => {
  const fields = readFileSync('/proc/thread-self/stat', 'utf8').split(') ')[1].split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]); // utime + stime
  process.stderr.write(`MAINCPU ${(ticks / 100).toFixed(2)}\n`);
});
