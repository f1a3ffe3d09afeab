// What the guest tests share: the lab guest's toa.ko (test/vm/boot.sh puts its path in TOA_KO),
// the documentation addresses they give the load balancer, server and client, and small helpers.
import { type ChildProcess, execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

export const ko = process.env.TOA_KO ?? '';
export const LB4 = '198.51.100.2';
export const LB6 = '2001:db8:1::2';
export const SERVER4 = '198.51.100.1';
export const SERVER6 = '2001:db8:1::1';
export const CLIENT4 = '192.0.2.99';
export const CLIENT6 = '2001:db8:9::63';

/** A command's stdout; throws with its stderr when it fails. */
export const run = (cmd: string, ...args: string[]): string =>
  execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

export function unload(): void {
  try {
    run('rmmod', 'toa');
  } catch {
    // not loaded
  }
}

/** toa.ko afresh, with these module parameters. */
export function load(...params: string[]): void {
  unload();
  run('insmod', ko, ...params);
}

export const setParam = (name: string, value: string) =>
  writeFileSync(`/sys/module/toa/parameters/${name}`, value);
export const getParam = (name: string) => readFileSync(`/sys/module/toa/parameters/${name}`, 'utf8').trim();

/** A snapshot of /proc/net/toa_stats: counter name -> value (throws on an unknown name). */
export function stats(): (name: string) => number {
  const values = new Map<string, number>();
  for (const line of readFileSync('/proc/net/toa_stats', 'utf8').trim().split('\n')) {
    const [name = '', value = ''] = line.split(' ');
    values.set(name, Number(value));
  }
  return (name) => {
    const v = values.get(name);
    if (v === undefined) throw new Error(`no counter ${name} in /proc/net/toa_stats`);
    return v;
  };
}

/** The child's stdout line by line: each call, the next line, or an error naming `who` after `ms`. */
export function lines(child: ChildProcess, who: string, ms: number): () => Promise<string> {
  const queue: string[] = [];
  const waiting: ((l: string) => void)[] = [];
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (l) => {
    const w = waiting.shift();
    if (w) w(l);
    else queue.push(l);
  });
  return () =>
    new Promise((resolve, reject) => {
      const l = queue.shift();
      if (l !== undefined) return resolve(l);
      const timer = setTimeout(() => reject(new Error(`${who} said nothing in ${ms / 1000} s`)), ms);
      waiting.push((x) => {
        clearTimeout(timer);
        resolve(x);
      });
    });
}
