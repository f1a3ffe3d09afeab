// `toa verify`: a functional self-test on the real node. In a private network namespace a TUN
// peer (the lab's userspace TCP) plays the load balancer and puts a TOA naming a made-up client
// in its handshake ACK; a listener there accepts the connection; the kernel must then answer the
// client through getpeername() and the lookup API. The namespace and the device go away whatever
// happens: finally, SIGINT/SIGTERM, and a sweep of namespaces left by a killed earlier run.
// With `netns: false` (the node agent, in its pod's own namespace, without CAP_SYS_ADMIN) the
// device, its host routes and the listener live in the caller's namespace instead.
import { existsSync, readdirSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { type OriginalPeer, originalPeer } from '../binding/index.js';
import { createNetns, deleteNetns, ip, moveLink } from '../lab/netns.js';
import { type Connection, connect } from '../lab/peer.js';
import { openTun, type Tun } from '../lab/tun.js';
import { encodeOptions, encodeToa, FORMATS, type FormatName, type ToaInput } from '../wire/index.js';
import { CAP_NET_ADMIN, CAP_SYS_ADMIN, requireCaps } from './caps.js';
import { type ConfigBackend, cidrContains, type ModuleConfig, sysfsConfig } from './config.js';
import { loadedModule, readStats } from './kernel.js';
import { enterNetns } from './netns-thread.js';

export interface Step {
  step: string;
  ok: boolean;
  detail: string;
}

export interface VerifyOptions {
  /** The test load balancer (the connection's source); default 198.51.100.2. */
  lb?: string;
  /** The client the TOA names; default 203.0.113.99:40123. */
  client?: string;
  clientPort?: number;
  /** default: the first accepted format that carries an IPv4 client and port */
  format?: FormatName;
  timeoutMs?: number;
  config?: ConfigBackend;
  /** The lookup API; default the binding's originalPeer() (TOA_SO_GET_PEER). */
  lookup?: (socket: Socket) => OriginalPeer | null;
  /** Called as each step ends (progress output). */
  onStep?: (s: Step) => void;
  /**
   * true (default): a private namespace (needs CAP_SYS_ADMIN); false: the caller's own namespace,
   * which must be one the test's addresses cannot disturb (a pod's).
   */
  netns?: boolean;
  /** false: leave SIGINT/SIGTERM to the caller (it must not exit while the device exists). */
  signals?: boolean;
}

export interface VerifyResult {
  ok: boolean;
  steps: Step[];
}

const PREFIX = 'toaverify-';
const PORT = 8080;

class StepFailed extends Error {}

/** Delete namespaces of earlier runs whose process is gone (killed with SIGKILL, say). */
async function sweepStale(): Promise<string[]> {
  if (!existsSync('/run/netns')) return [];
  const stale = readdirSync('/run/netns').filter((n) => {
    const pid = Number(n.slice(PREFIX.length));
    return n.startsWith(PREFIX) && Number.isInteger(pid) && !existsSync(`/proc/${pid}`);
  });
  for (const ns of stale) await deleteNetns(ns);
  return stale;
}

/** A format the kernel accepts that carries an IPv4 client and its port. */
function pickFormat(accepted: FormatName[]): FormatName | undefined {
  const usable = FORMATS.filter(
    (f) => (f.layout === 'port-addr' && f.len === 8) || f.layout === 'port-addr-vip',
  );
  return usable.find((f) => accepted.includes(f.name))?.name;
}

function toaFor(format: FormatName, client: string, port: number, server: string): ToaInput {
  const input: ToaInput = { format, address: client, port };
  if (FORMATS.find((f) => f.name === format)?.layout === 'port-addr-vip')
    input.vip = { address: server, port: PORT };
  return input;
}

const unmapped = (a?: string) => a?.replace(/^::ffff:/, '');

/** Why the connection's peer was not rewritten, from how the counters moved. */
function diagnose(
  before: Map<string, number>,
  after: Map<string, number>,
  lb: string,
  cfg: ModuleConfig,
): string {
  const d = (k: string) => (after.get(k) ?? 0) - (before.get(k) ?? 0);
  if (d('untrusted') > 0 || (cfg.trust.length && !cfg.trust.some((c) => cidrContains(c, lb))))
    return `the trust list (${cfg.trust.join(',')}) excludes the test load balancer ${lb}: run \`toa verify --lb ADDR\` with an address inside it, or add ${lb}/32 to the list`;
  if (d('segments_parsed') === 0)
    return "toa.ko's hooks are not firing: segments_parsed did not move (see dmesg for probe registration errors; reload with `toa unload && toa load`)";
  if (d('malformed') > 0)
    return 'toa.ko counted the test TOA as malformed (see /proc/net/toa_stats malformed_*)';
  if (d('toa_v4') === 0)
    return 'toa.ko parsed segments but found no TOA in them (formats? see /proc/net/toa_stats)';
  if (d('getname_rewritten') === 0)
    return 'toa.ko read the TOA but getpeername() was not rewritten (ops_swapped, see dmesg)';
  return 'the peer was rewritten to another address than the test client';
}

export async function verify(o: VerifyOptions = {}): Promise<VerifyResult> {
  const steps: Step[] = [];
  const record = (step: string, ok: boolean, detail: string) => {
    const s = { step, ok, detail };
    steps.push(s);
    o.onStep?.(s);
    if (!ok) throw new StepFailed(detail);
  };
  const lb = o.lb ?? '198.51.100.2';
  const server = lb === '198.51.100.1' ? '198.51.100.3' : '198.51.100.1';
  const client = o.client ?? '203.0.113.99';
  const clientPort = o.clientPort ?? 40123;
  const config = o.config ?? sysfsConfig;
  const lookup = o.lookup ?? ((s: Socket) => originalPeer(s));
  const timeoutMs = o.timeoutMs ?? 10000;
  const cleanups: (() => Promise<void> | void)[] = [];
  // One cleanup, shared by the finally below and a signal: neither may see a half-emptied list.
  let cleaning: Promise<void> | undefined;
  const cleanup = () => {
    cleaning ??= (async () => {
      while (cleanups.length) {
        try {
          await cleanups.pop()?.();
        } catch {
          // keep going: everything else must still be removed
        }
      }
    })();
    return cleaning;
  };
  let interrupted: NodeJS.Signals | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    interrupted = sig;
    // The steps still running trip over the device and namespace going away; we are leaving anyway.
    process.on('uncaughtException', () => {}).on('unhandledRejection', () => {});
    void cleanup().finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
  };
  const signals = o.signals ?? true;
  if (signals) process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
  const private_ = o.netns ?? true;
  try {
    const mod = loadedModule();
    if (!mod) record('module', false, 'toa.ko is not loaded: run `toa load`');
    else if (mod.state !== 'live')
      record('module', false, `toa.ko is ${mod.state}, not live: wait, or reload it`);
    record('module', true, `toa.ko ${mod?.version} is loaded`);

    try {
      requireCaps('toa verify', CAP_NET_ADMIN, ...(private_ ? [CAP_SYS_ADMIN] : []));
    } catch (e) {
      record('privileges', false, (e as Error).message);
    }
    const cfg = config.read();
    const format = o.format ?? pickFormat(cfg.formats);
    if (!format || !cfg.formats.includes(format))
      record(
        'config',
        false,
        `the accepted formats (${cfg.formats.join(',')}) include no IPv4 format with a port that verify can send: add 254/8`,
      );
    record(
      'config',
      true,
      `trust ${cfg.trust.length ? cfg.trust.join(',') : 'any source'}; sending ${format}`,
    );

    let listener: Server;
    let tun: Tun;
    if (private_) {
      const swept = await sweepStale();
      const ns = await createNetns(`${PREFIX}${process.pid}`);
      cleanups.push(() => deleteNetns(ns));
      // Closed before its namespace goes: a namespace's end deletes the device under a reader (EBADFD).
      tun = openTun('toaverify%d');
      cleanups.push(() => tun.close());
      await moveLink(tun.name, ns, { addresses: [`${server}/32`] });
      await ip('-n', ns, 'route', 'add', `${lb}/32`, 'dev', tun.name);
      record(
        'namespace',
        true,
        `${ns} with ${tun.name}${swept.length ? `; removed stale ${swept.join(', ')}` : ''}`,
      );
      listener = await listenIn(ns, server);
    } else {
      // Closing the device removes its address and route with it.
      tun = openTun('toaverify%d');
      cleanups.push(() => tun.close());
      await ip('addr', 'add', `${server}/32`, 'dev', tun.name);
      await ip('link', 'set', tun.name, 'up');
      await ip('route', 'add', `${lb}/32`, 'dev', tun.name);
      record('namespace', true, `this process's own, with ${tun.name}`);
      listener = await listenIn(null, server);
    }
    cleanups.push(() => new Promise<void>((resolve) => listener.close(() => resolve())));
    const accepted = new Promise<Socket>((resolve) => listener.once('connection', resolve));
    record('listener', true, `${server}:${PORT}`);

    const before = readStats() ?? new Map();
    const toa = encodeOptions([encodeToa(toaFor(format as FormatName, client, clientPort, server))]);
    let c: Connection;
    try {
      c = await connect({
        tun,
        src: { address: lb, port: 40000 + (process.pid % 20000) },
        dst: { address: server, port: PORT },
        ackOptions: toa,
        timeoutMs,
      });
    } catch (e) {
      record('connection', false, `no handshake with the listener: ${(e as Error).message}`);
      return { ok: false, steps };
    }
    cleanups.push(() => c.abort());
    let timer: NodeJS.Timeout | undefined;
    const sock = await Promise.race([
      accepted,
      new Promise<null>((r) => (timer = setTimeout(r, timeoutMs, null))),
    ]);
    clearTimeout(timer);
    if (!sock) record('connection', false, `the listener accepted nothing within ${timeoutMs} ms`);
    cleanups.push(() => {
      sock?.destroy();
    });
    record(
      'connection',
      true,
      `${lb}:${c.src.port} -> ${server}:${PORT} with a ${format} TOA naming ${client}:${clientPort}`,
    );

    const seen = `${unmapped(sock?.remoteAddress)}:${sock?.remotePort}`;
    if (seen !== `${client}:${clientPort}`) {
      const after = readStats() ?? new Map();
      record(
        'getpeername',
        false,
        `getpeername() says ${seen}, not ${client}:${clientPort}: ${diagnose(before, after, lb, cfg)}`,
      );
    }
    record('getpeername', true, `the server sees ${seen}`);

    const peer = sock ? lookup(sock) : null;
    const got = peer
      ? `${peer.address}:${peer.port} via ${peer.via}${peer.lb ? ` lb ${peer.lb.address}:${peer.lb.port}` : ''}`
      : 'nothing';
    if (
      peer?.via !== 'toa' ||
      peer.address !== client ||
      peer.port !== clientPort ||
      unmapped(peer.lb?.address) !== lb
    )
      record(
        'lookup',
        false,
        `TOA_SO_GET_PEER answered ${got}; want ${client}:${clientPort} via toa, lb ${lb}`,
      );
    record('lookup', true, `TOA_SO_GET_PEER: ${got}`);
    return { ok: true, steps };
  } catch (e) {
    if (e instanceof StepFailed) return { ok: false, steps };
    const s = { step: 'error', ok: false, detail: (e as Error).message };
    steps.push(s);
    o.onStep?.(s);
    return { ok: false, steps };
  } finally {
    await cleanup();
    if (signals) process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
    if (interrupted) steps.push({ step: 'interrupted', ok: false, detail: `${interrupted}: cleaned up` });
  }
}

/** A listener whose socket lives in `ns` (null: this one): created while the main thread is in it. */
async function listenIn(ns: string | null, host: string): Promise<Server> {
  const server = createServer();
  const leave = ns === null ? () => {} : enterNetns(ns);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port: PORT }, () => resolve());
    });
  } finally {
    leave();
  }
  return server;
}
