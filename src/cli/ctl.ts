// `toa status` and `toa config get|set`: the live module over its generic-netlink family.
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { parseFormatList } from '../module/config.js';
import { type Config, cidrToText, openToa, parseCidr, type Stat, type Toa } from '../netlink/index.js';
import { EXIT_HELP, json, run, UsageError, usage } from './action.js';

const NOT_LOADED = 'toa.ko is not loaded: run `toa load`';

const loaded = () => existsSync('/sys/module/toa');

async function withToa<T>(fn: (toa: Toa) => Promise<T>): Promise<T> {
  if (!loaded()) throw new Error(NOT_LOADED);
  const toa = await openToa();
  try {
    return await fn(toa);
  } finally {
    toa.close();
  }
}

interface Status {
  loaded: true;
  version: string;
  config: Config;
  stats: Stat[];
}

const trustText = (c: Config) => (c.trust.length ? c.trust.map(cidrToText).join(', ') : 'any source');

function configText(c: Config): string {
  return [
    `rewriting: ${c.enabled ? 'enabled' : 'disabled (getpeername answers the load balancer)'}`,
    `trust:     ${trustText(c)}`,
    `formats:   ${c.formats.join(', ')}`,
    `stash:     ${c.stashMax} SYNs, ${c.stashTtlMs} ms`,
  ].join('\n');
}

function statsText(stats: Stat[], rates?: Map<string, number>): string {
  const width = Math.max(...stats.map((s) => s.name.length));
  return stats
    .map((s) => {
      const rate = rates?.get(s.name);
      const perSecond = rate === undefined ? '' : `  ${rate.toFixed(1).padStart(10)}/s`;
      return `  ${s.name.padEnd(width)} ${String(s.value).padStart(12)}${perSecond}`;
    })
    .join('\n');
}

const configJson = (c: Config) => ({ ...c, trust: c.trust.map(cidrToText) });

async function status(toa: Toa): Promise<Status> {
  const [config, stats] = [await toa.config(), await toa.stats()];
  return { loaded: true, version: config.version, config, stats };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Refreshes every `seconds` until interrupted, with each counter's rate over the last interval. */
async function watch(toa: Toa, seconds: number, asJson: boolean): Promise<never> {
  let last = await status(toa);
  let at = Date.now();
  for (;;) {
    await sleep(seconds * 1000);
    if (!loaded()) throw new Error('toa.ko was unloaded');
    const now = await status(toa);
    const elapsed = (Date.now() - at) / 1000;
    const before = new Map(last.stats.map((s) => [s.name, s.value]));
    const rates = new Map(now.stats.map((s) => [s.name, (s.value - (before.get(s.name) ?? 0)) / elapsed]));
    if (asJson)
      process.stdout.write(
        `${JSON.stringify({ time: new Date().toISOString(), version: now.version, stats: now.stats, rates: Object.fromEntries(rates) })}\n`,
      );
    else
      process.stdout.write(
        `${process.stdout.isTTY ? '\x1b[H\x1b[2J' : ''}toa.ko ${now.version} — ${new Date().toISOString()}, per second over ${elapsed.toFixed(1)} s\n${statsText(now.stats, rates)}\n`,
      );
    [last, at] = [now, Date.now()];
  }
}

/** --trust values: repeated and/or comma-separated CIDRs, each checked before anything is sent. */
function trustList(values: string[]): string[] {
  const cidrs = values
    .flatMap((v) => v.split(','))
    .map((s) => s.trim())
    .filter(Boolean);
  for (const c of cidrs) parseCidr(c);
  return cidrs;
}

interface SetFlags {
  trust?: string[];
  trustAny?: boolean;
  formats?: string;
  enable?: boolean;
  disable?: boolean;
  json?: boolean;
}

function change(f: SetFlags) {
  if (f.trust && f.trustAny) throw new UsageError('--trust and --trust-any exclude each other');
  if (f.enable && f.disable) throw new UsageError('--enable and --disable exclude each other');
  const out: { trust?: string[]; formats?: string[]; enabled?: boolean } = {};
  if (f.trust) out.trust = usage(() => trustList(f.trust as string[]));
  if (f.trustAny) out.trust = [];
  if (f.formats !== undefined) out.formats = usage(() => parseFormatList(f.formats as string));
  if (f.enable || f.disable) out.enabled = Boolean(f.enable);
  if (!Object.keys(out).length)
    throw new UsageError('nothing to set: give --trust, --trust-any, --formats, --enable or --disable');
  return out;
}

export function addCtlCommands(program: Command): void {
  program
    .command('status')
    .description('whether toa.ko is loaded; its version, configuration and counters')
    .option('--json', 'print the status as JSON')
    .option('--watch [seconds]', 'refresh every SECONDS (default 1) with per-second rates')
    .addHelpText('after', `${EXIT_HELP} Not loaded: exit 1, and {"loaded": false} with --json.`)
    .action(
      run('status', async (f: { json?: boolean; watch?: string | boolean }) => {
        const every = f.watch === undefined ? 0 : f.watch === true ? 1 : Number(f.watch);
        if (!(every >= 0.1 && every <= 3600) && f.watch !== undefined)
          throw new UsageError(`--watch ${f.watch}: want seconds between 0.1 and 3600`);
        if (!loaded()) {
          if (f.json) json({ loaded: false });
          else process.stdout.write('toa.ko is not loaded\n');
          return 1;
        }
        return withToa(async (toa) => {
          if (every) await watch(toa, every, Boolean(f.json));
          const s = await status(toa);
          if (f.json) json({ ...s, config: configJson(s.config) });
          else
            process.stdout.write(
              `toa.ko ${s.version}: loaded\n${configText(s.config)}\ncounters (/proc/net/toa_stats):\n${statsText(s.stats)}\n`,
            );
          return 0;
        });
      }),
    );

  const config = program.command('config').description("read or change the live module's configuration");
  config
    .command('get')
    .description('trust list, accepted formats, rewriting switch, SYN stash limits')
    .option('--json', 'print the configuration as JSON')
    .addHelpText('after', EXIT_HELP)
    .action(
      run('config get', (f: { json?: boolean }) =>
        withToa(async (toa) => {
          const c = await toa.config();
          if (f.json) json(configJson(c));
          else process.stdout.write(`${configText(c)}\n`);
          return 0;
        }),
      ),
    );
  config
    .command('set')
    .description('change the trust list, formats or rewriting switch live, all together or not at all')
    .option('--trust <cidr...>', 'load balancers allowed to supply a TOA (repeat or comma-separate)')
    .option('--trust-any', 'accept a TOA from any source (clears the trust list)')
    .option('--formats <list>', 'accepted TOA formats, e.g. 254/8,254/20')
    .option('--enable', 'rewrite getpeername()/accept() for TOA connections')
    .option('--disable', 'answer the load balancer, as without the module (state is still kept)')
    .option('--json', 'print the resulting configuration as JSON')
    .addHelpText('after', `${EXIT_HELP} Needs CAP_NET_ADMIN.`)
    .action(
      run('config set', (f: SetFlags) => {
        const wanted = change(f);
        return withToa(async (toa) => {
          await toa.setConfig(wanted);
          const c = await toa.config();
          if (f.json) json(configJson(c));
          else process.stdout.write(`${configText(c)}\n`);
          return 0;
        });
      }),
    );
}
