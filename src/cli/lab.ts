// `toa lab lb`: flags -> startLb. Bad input (an address, a port, a missing namespace, no root, no
// /dev/net/tun) is one line on stderr and exit 2, before any device is made.
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { createLb } from '../lab/lb.js';
import type { NatEntry } from '../lab/lb-nat.js';
import { checkNetns, type LbRunOptions, startLb } from '../lab/lb-run.js';
import type { Endpoint } from '../lab/peer.js';
import { addressToText, type FormatName, isFormatName, textToAddress } from '../wire/index.js';

interface Flags {
  vip?: string[];
  backend?: string[];
  local?: string[];
  clientNetns?: string;
  clientAddr?: string[];
  toaFormat: string;
  toaFormat6: string;
  timeout: string;
  ports: string;
  clientDev: string;
  backendDev: string;
  log?: boolean;
}

/** "a.b.c.d:port" or "[v6]:port". */
export function parseEndpoint(text: string, flag: string): Endpoint {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:[\]]+):(\d+)$/.exec(text);
  if (!m) throw new Error(`${flag} ${text}: write ADDR:PORT, an IPv6 address in brackets ([2001:db8::1]:80)`);
  const address = m[1] as string;
  try {
    textToAddress(address);
  } catch (e) {
    throw new Error(`${flag} ${text}: ${(e as Error).message}`);
  }
  const port = Number(m[2]);
  if (port < 1 || port > 65535) throw new Error(`${flag} ${text}: the port must be 1..65535`);
  return { address, port };
}

function parseCidr(text: string): string {
  const [address = '', len, ...rest] = text.split('/');
  const bits = (() => {
    try {
      return textToAddress(address).length * 8;
    } catch {
      return 0;
    }
  })();
  if (!bits || rest.length || (len !== undefined && !(/^\d+$/.test(len) && Number(len) <= bits)))
    throw new Error(`--client-addr ${text}: write ADDR or ADDR/PREFIX (203.0.113.10/24, 2001:db8:c::10/64)`);
  return len === undefined ? `${address}/${bits}` : text;
}

function format(text: string, flag: string): FormatName {
  if (!isFormatName(text))
    throw new Error(`${flag} ${text}: unknown format; e.g. 254/8, 200/8, 254/20, 28/19`);
  return text;
}

function seconds(text: string): number {
  const n = Number(text);
  if (!(n > 0) || !Number.isFinite(n)) throw new Error(`--timeout ${text}: give seconds above 0`);
  return n * 1000;
}

function portRange(text: string): [number, number] {
  const m = /^(\d+)-(\d+)$/.exec(text);
  const low = Number(m?.[1]);
  const high = Number(m?.[2]);
  if (!m || low < 1 || low > high || high > 65535)
    throw new Error(`--ports ${text}: write LOW-HIGH within 1-65535`);
  return [low, high];
}

export function optionsFromFlags(f: Flags): LbRunOptions {
  const vip = f.vip ?? [];
  const backend = f.backend ?? [];
  const local = f.local ?? [];
  if (vip.length === 0) throw new Error('give the address clients connect to: --vip ADDR:PORT');
  if (backend.length === 0) throw new Error('give at least one --backend ADDR:PORT[@NETNS]');
  if (local.length === 0) throw new Error('give the LB source address towards the backends: --local ADDR');
  const backends = backend.map((b) => {
    const [endpoint = '', ns, ...more] = b.split('@');
    if (more.length || ns === '') throw new Error(`--backend ${b}: write ADDR:PORT or ADDR:PORT@NETNS`);
    return { endpoint: parseEndpoint(endpoint, '--backend'), ns };
  });
  for (const l of local) {
    try {
      textToAddress(l);
    } catch (e) {
      throw new Error(`--local ${l}: ${(e as Error).message}`);
    }
  }
  return {
    vips: vip.map((v) => parseEndpoint(v, '--vip')),
    backends: backends.map((b) => b.endpoint),
    backendNetns: backends.map((b) => b.ns),
    locals: local,
    clientAddrs: (f.clientAddr ?? []).map(parseCidr),
    ...(f.clientNetns === undefined ? {} : { clientNetns: f.clientNetns }),
    format4: format(f.toaFormat, '--toa-format'),
    format6: format(f.toaFormat6, '--toa-format6'),
    timeouts: { idleMs: seconds(f.timeout) },
    ports: portRange(f.ports),
    clientDev: f.clientDev,
    backendDev: f.backendDev,
  };
}

const collect = (value: string, previous: string[] | undefined) => [...(previous ?? []), value];

const endpointText = (addr: Uint8Array, port: number) => {
  const a = addressToText(addr);
  return a.includes(':') ? `[${a}]:${port}` : `${a}:${port}`;
};

function entryText(e: NatEntry): string {
  return `${endpointText(e.client, e.clientPort)} -> ${endpointText(e.vip, e.vport)} = ${endpointText(e.local, e.localPort)} -> ${endpointText(e.backendAddr, e.backendPort)}`;
}

export function addLabCommand(program: Command): void {
  const lab = program.command('lab').description('the lab: try toa without an LVS/DPVS (root)');
  lab
    .command('lb')
    .description(
      'a userspace FullNAT load balancer on TUN devices: clients -> VIP -> backends, with the client in a TOA',
    )
    .option('--vip <addr:port>', 'address clients connect to (repeatable; IPv6 as [addr]:port)', collect)
    .option(
      '--backend <addr:port[@netns]>',
      'a backend, reached through a device in that namespace (repeatable)',
      collect,
    )
    .option(
      '--local <addr>',
      'the LB source address towards the backends, one per family (repeatable)',
      collect,
    )
    .option('--client-netns <netns>', 'namespace of the client-facing device (default: this one)')
    .option(
      '--client-addr <cidr>',
      "the clients' addresses, put on the client-facing device (repeatable)",
      collect,
    )
    .option('--toa-format <format>', 'TOA format for IPv4 clients', '254/8')
    .option('--toa-format6 <format>', 'TOA format for IPv6 clients', '254/20')
    .option('--timeout <seconds>', 'drop a connection idle this long', '300')
    .option('--ports <low-high>', 'local source ports towards the backends', '1024-65535')
    .option('--client-dev <name>', 'client-facing TUN device name (%d: a free number)', 'toalbc%d')
    .option('--backend-dev <name>', 'backend-facing TUN device names (%d: a free number)', 'toalbb%d')
    .option('--log', 'one line per connection opened and closed')
    .action(async (flags: Flags) => {
      let options: LbRunOptions;
      try {
        options = optionsFromFlags(flags);
        createLb(options); // the rest of the checks (families, formats), before any device is made
        if (process.getuid?.() !== 0)
          throw new Error('needs root (TUN devices and namespaces): run it with sudo');
        if (!existsSync('/dev/net/tun'))
          throw new Error('/dev/net/tun missing: load the tun module (modprobe tun)');
        checkNetns([options.clientNetns, ...(options.backendNetns ?? [])]);
      } catch (err) {
        process.stderr.write(`toa lab lb: ${(err as Error).message}\n`);
        process.exitCode = 2;
        return;
      }
      if (flags.log)
        options.onEvent = (e) =>
          console.log(
            e.kind === 'open'
              ? `open  ${entryText(e.entry)}`
              : `close ${entryText(e.entry)} ${e.reason} (TOA in ${e.entry.toaSent} segment${e.entry.toaSent === 1 ? '' : 's'})`,
          );
      try {
        const run = await startLb(options);
        const where = (d: { name: string; netns: string | undefined }) =>
          `${d.name} (${d.netns ?? 'this namespace'})`;
        console.log(
          `ready: clients on ${where(run.client)}, backends on ${run.backends.map(where).join(', ')}`,
        );
        const quit = async () => {
          await run.stop();
          const s = run.lb.stats;
          const drops = Object.entries(s.dropped)
            .filter(([, n]) => n > 0)
            .map(([k, n]) => `${k} ${n}`);
          process.stderr.write(
            `toa lab lb: ${s.opened} connections, TOA in ${s.toaInserted} segments (+${s.toaBareAck} bare ACKs), dropped: ${drops.join(', ') || 'none'}\n`,
          );
        };
        process.once('SIGINT', quit);
        process.once('SIGTERM', quit);
      } catch (err) {
        process.stderr.write(`toa lab lb: ${(err as Error).message.split('\n')[0]}\n`);
        process.exitCode = 1;
      }
    });
}
