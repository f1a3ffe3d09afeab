// `toa agent`: flags -> the node agent (src/agent). Runs until SIGTERM/SIGINT, then exits 0.
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { startAgent } from '../agent/agent.js';
import { stderrLog } from '../agent/log.js';
import { DEFAULT_METRICS_PORT } from '../k8s/options.js';
import { PACKAGE_ROOT } from '../module/paths.js';
import { run, UsageError } from './action.js';

interface Flags {
  config: string;
  metricsPort: string;
  stateDir: string;
  hostUsrLib?: string;
  prebuiltOnly?: boolean;
  prebuiltDir: string;
  libModules: string;
  kmodSrc?: string;
  unloadOnExit?: boolean;
}

export function parsePort(text: string): number {
  const port = Number(text);
  if (!/^\d+$/.test(text) || port < 1 || port > 65535)
    throw new UsageError(`--metrics-port ${text}: give a TCP port, 1-65535`);
  return port;
}

export function addAgentCommand(program: Command): void {
  program
    .command('agent')
    .description(
      "the node agent (the DaemonSet's entrypoint): load a fitting toa.ko (prebuilt, else built from the node's headers), apply the config file and keep it applied, self-test, serve /healthz /readyz /metrics",
    )
    .option(
      '--config <file>',
      'the config file (JSON: trust, formats), watched for changes',
      '/etc/toa/config.json',
    )
    .option('--metrics-port <port>', 'port of /healthz, /readyz and /metrics', String(DEFAULT_METRICS_PORT))
    .option('--state-dir <dir>', 'writable: staged headers and modules built here', '/var/lib/toa')
    .option(
      '--host-usr-lib <dir>',
      "the node's /usr/lib (kbuild tools of Debian's headers), to build from its headers",
      '/usr/lib',
    )
    .option('--prebuilt-only', 'never build: load a prebuilt module or report that none fits')
    .option('--prebuilt-dir <dir>', 'prebuilt modules, as DIR/RELEASE/toa.ko', join(PACKAGE_ROOT, 'prebuilt'))
    .option('--lib-modules <dir>', "the node's /lib/modules (its headers at RELEASE/build)", '/lib/modules')
    .option('--kmod-src <dir>', "the module's sources to build (default: kmod/ in the package)")
    .option('--unload-on-exit', 'unload toa.ko on SIGTERM/SIGINT (default: leave it loaded)')
    .addHelpText(
      'after',
      `\nEnvironment: NODE_NAME names the node in logs and metric labels (default: the hostname).\nExit status: 0 stopped by SIGTERM/SIGINT, 1 could not start (one line on stderr says why), 2 bad usage.\nNot ready (503 on /readyz, the reason in the log and the body) is not an exit: the agent keeps serving.`,
    )
    .action(
      run('agent', async (f: Flags, cmd: Command) => {
        const port = parsePort(f.metricsPort);
        if (f.prebuiltOnly && cmd.getOptionValueSource('hostUsrLib') === 'cli')
          throw new UsageError('--prebuilt-only and --host-usr-lib exclude each other (no headers are used)');
        const agent = await startAgent({
          config: f.config,
          metricsPort: port,
          stateDir: f.stateDir,
          prebuiltDir: f.prebuiltDir,
          hostUsrLib: f.prebuiltOnly ? null : (f.hostUsrLib ?? '/usr/lib'),
          libModules: f.libModules,
          unloadOnExit: Boolean(f.unloadOnExit),
          node: process.env.NODE_NAME || hostname(),
          ...(f.kmodSrc !== undefined && { kmodSrc: f.kmodSrc }),
          log: stderrLog,
        });
        const sig = await new Promise<NodeJS.Signals>((resolve) => {
          process.once('SIGTERM', resolve).once('SIGINT', resolve);
        });
        await agent.stop(sig);
        stderrLog('stopped');
        return 0;
      }),
    );
}
