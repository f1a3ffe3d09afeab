// `toa build | load | unload | verify`: flags -> the operations in src/module. Exit codes: 0 done,
// 1 the operation failed (one line on stderr naming the fix), 2 bad usage (nothing was changed).
import type { Command } from 'commander';
import { buildModule } from '../module/build.js';
import { parseFormatList, parseTrust } from '../module/config.js';
import { loadModule } from '../module/load.js';
import { unloadModule } from '../module/unload.js';
import { type Step, verify } from '../module/verify.js';
import { addressFamily, type FormatName } from '../wire/index.js';
import { EXIT_HELP, json, run, UsageError, usage } from './action.js';

export function addModuleCommands(program: Command): void {
  program
    .command('build')
    .description('build toa.ko with kbuild for the running kernel, or the one named')
    .option('--kernel <release>', 'kernel release (default: uname -r)')
    .option('--headers <dir>', 'kernel headers tree (default: /lib/modules/RELEASE/build)')
    .option('--out <dir>', 'output directory (default: build/kmod/RELEASE in the package)')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', EXIT_HELP)
    .action(
      run('build', async (f: { kernel?: string; headers?: string; out?: string; json?: boolean }) => {
        if (f.kernel !== undefined && !/^[\w.+~-]+$/.test(f.kernel))
          throw new UsageError(`--kernel ${f.kernel}: not a kernel release (like \`uname -r\` prints)`);
        const r = await buildModule({
          ...(f.kernel !== undefined && { kernel: f.kernel }),
          ...(f.headers !== undefined && { headers: f.headers }),
          ...(f.out !== undefined && { out: f.out }),
          onProgress: (line) => process.stderr.write(`${line}\n`),
        });
        if (f.json) json(r);
        else process.stdout.write(`${r.ko}\n`);
        return 0;
      }),
    );

  program
    .command('load')
    .description('load toa.ko (finit_module), or apply --trust/--formats when this version is loaded')
    .option('--ko <path>', 'the module (default: the one `toa build` made for this kernel, else DKMS)')
    .option('--trust <cidr...>', 'load balancers allowed to supply a TOA (repeat or comma-separate)')
    .option('--formats <list>', 'accepted TOA formats, e.g. 254/8,254/20')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', EXIT_HELP)
    .action(
      run('load', (f: { ko?: string; trust?: string[]; formats?: string; json?: boolean }) => {
        const trust = f.trust && usage(() => parseTrust(f.trust as string[]));
        const formats =
          f.formats !== undefined ? usage(() => parseFormatList(f.formats as string)) : undefined;
        const r = loadModule({
          ...(f.ko !== undefined && { ko: f.ko }),
          ...(trust && { trust }),
          ...(formats && { formats }),
        });
        if (f.json) json(r);
        else {
          const what = {
            loaded: 'loaded',
            configured: 'already loaded; configuration applied',
            unchanged: 'already loaded',
          };
          process.stdout.write(
            `toa.ko ${r.version} ${what[r.action]} (${r.ko})\n` +
              `trust: ${r.config.trust.join(',') || 'any source'}\nformats: ${r.config.formats.join(',')}\n`,
          );
        }
        return 0;
      }),
    );

  program
    .command('unload')
    .description(
      'unload toa.ko (delete_module, non-blocking like rmmod); reports sockets still carrying TOA state',
    )
    .option('--json', 'print the result as JSON')
    .addHelpText('after', EXIT_HELP)
    .action(
      run('unload', async (f: { json?: boolean }) => {
        const r = await unloadModule();
        if (f.json) json(r);
        else if (r.action === 'not-loaded') process.stdout.write('toa.ko is not loaded; nothing to do\n');
        else {
          const socks =
            r.socketsTracked === null
              ? 'sockets with TOA state: unknown (no /proc/net/toa_stats)'
              : `${r.socketsTracked} socket(s) carried TOA state; they keep working and now answer the load balancer's address`;
          process.stdout.write(`toa.ko ${r.version} unloaded; ${socks}\n`);
        }
        return 0;
      }),
    );

  program
    .command('verify')
    .description('self-test: a TOA connection in a private network namespace must show the injected client')
    .option(
      '--lb <addr>',
      'IPv4 address of the test load balancer (default 198.51.100.2; must be in the trust list)',
    )
    .option('--format <name>', 'TOA format to send (default: the first accepted IPv4 format with a port)')
    .option('--timeout <ms>', 'connection timeout', '10000')
    .option('--json', 'print the steps as JSON')
    .addHelpText('after', EXIT_HELP)
    .action(
      run('verify', async (f: { lb?: string; format?: string; timeout: string; json?: boolean }) => {
        const lb = f.lb;
        if (lb !== undefined && usage(() => addressFamily(lb)) !== 4)
          throw new UsageError(`--lb ${lb}: give an IPv4 address, e.g. 10.0.0.5`);
        const format =
          f.format !== undefined ? usage(() => parseFormatList(f.format as string))[0] : undefined;
        const timeoutMs = Number(f.timeout);
        if (!Number.isInteger(timeoutMs) || timeoutMs < 100)
          throw new UsageError(`--timeout ${f.timeout}: give milliseconds, at least 100`);
        const show = (s: Step) => {
          if (!f.json) process.stdout.write(`${s.ok ? 'ok  ' : 'FAIL'} ${s.step}: ${s.detail}\n`);
        };
        const r = await verify({
          ...(lb !== undefined && { lb }),
          ...(format !== undefined && { format: format as FormatName }),
          timeoutMs,
          onStep: show,
        });
        if (f.json) json(r);
        const failed = r.steps.find((s) => !s.ok);
        const interrupted = r.steps.find((s) => s.step === 'interrupted');
        if (interrupted) return interrupted.detail.startsWith('SIGINT') ? 130 : 143;
        if (failed) process.stderr.write(`toa verify: ${failed.step}: ${failed.detail}\n`);
        return r.ok ? 0 : 1;
      }),
    );
}
