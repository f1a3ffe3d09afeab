// The agent's log: one plain line per event on stderr (what `kubectl logs` shows), timestamped.
export type Log = (line: string) => void;

export const stderrLog: Log = (line) => process.stderr.write(`${new Date().toISOString()} ${line}\n`);
