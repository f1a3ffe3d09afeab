// What every `toa` subcommand shares: exit codes 0 done, 1 failed (one line on stderr naming the
// fix), 2 bad usage (nothing was changed).
export class UsageError extends Error {}

const oneLine = (err: unknown) => (err instanceof Error ? err.message : String(err)).split('\n')[0];

/** Runs an action; a UsageError exits 2, any other error 1, each with one line on stderr. */
export function run<A extends unknown[]>(
  name: string,
  fn: (...args: A) => Promise<number | undefined> | number | undefined,
) {
  return async (...args: A) => {
    try {
      process.exitCode = (await fn(...args)) ?? 0;
    } catch (err) {
      process.stderr.write(`toa ${name}: ${oneLine(err)}\n`);
      process.exitCode = err instanceof UsageError ? 2 : 1;
    }
  };
}

/** `fn`'s error, if any, as a UsageError (bad input found before anything changed). */
export function usage<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

export const json = (value: unknown) => process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);

export const EXIT_HELP =
  '\nExit status: 0 done, 1 failed (one line on stderr says why and what to do), 2 bad usage.';
