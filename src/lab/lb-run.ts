// The lab load balancer on TUN devices: one facing the clients (the VIPs routed to it), one per
// backend namespace (the local address routed to it). Each device is created here, then moved
// into its namespace and addressed there; the process keeps the fds and moves packets between
// them through the core in lb.ts.
import { existsSync } from 'node:fs';
import { createLb, type Lb, type LbConfig } from './lb.js';
import { ip } from './netns.js';
import { openTun, type Tun } from './tun.js';

export interface LbRunOptions extends LbConfig {
  /** Namespace the client-facing device goes to; absent: it stays in this one. */
  clientNetns?: string;
  /** Addresses (CIDR) put on the client-facing device: the clients' own. */
  clientAddrs?: string[];
  /** The namespace of each backend (same order as backends); absent: this one. */
  backendNetns?: (string | undefined)[];
  /** Device names; a %d is filled in by the kernel. */
  clientDev?: string;
  backendDev?: string;
  /** How often idle entries are swept; default 1000 ms. */
  sweepMs?: number;
}

export interface LbDevice {
  name: string;
  netns: string | undefined;
}

export interface RunningLb {
  lb: Lb;
  client: LbDevice;
  /** One per backend namespace, in order of first appearance. */
  backends: LbDevice[];
  /** Packets the kernel refused from a device write (a device gone or down). */
  readonly writeErrors: number;
  /** The largest packet written to the client device and to a backend device (compare the MTU). */
  readonly largest: { client: number; backend: number };
  stop(): Promise<void>;
}

const hostPrefix = (address: string) => (address.includes(':') ? `${address}/128` : `${address}/32`);

/** Check the namespaces exist before any device is made. */
export function checkNetns(names: (string | undefined)[]): void {
  for (const ns of names) {
    if (ns !== undefined && !existsSync(`/run/netns/${ns}`))
      throw new Error(`network namespace ${ns} does not exist: create it with \`ip netns add ${ns}\``);
  }
}

/** Move dev into ns (when given), address it, bring it up and route prefixes to it. */
async function place(dev: string, ns: string | undefined, addrs: string[], routes: string[]) {
  const at = ns === undefined ? [] : ['-n', ns];
  if (ns !== undefined) await ip('link', 'set', dev, 'netns', ns);
  for (const cidr of addrs) {
    const v6 = cidr.includes(':');
    await ip(...at, ...(v6 ? ['-6'] : []), 'addr', 'add', cidr, 'dev', dev, ...(v6 ? ['nodad'] : []));
  }
  await ip(...at, 'link', 'set', dev, 'up');
  for (const prefix of routes)
    await ip(...at, ...(prefix.includes(':') ? ['-6'] : []), 'route', 'replace', prefix, 'dev', dev);
}

export async function startLb(o: LbRunOptions): Promise<RunningLb> {
  const lb = createLb(o);
  const groups = new Map<string | undefined, number[]>();
  o.backends.forEach((_, i) => {
    const ns = o.backendNetns?.[i];
    groups.set(ns, [...(groups.get(ns) ?? []), i]);
  });
  checkNetns([o.clientNetns, ...groups.keys()]);

  const tuns: Tun[] = [];
  const closeAll = () => Promise.all(tuns.map((t) => t.close()));
  try {
    const clientTun = openTun(o.clientDev ?? 'toalbc%d');
    tuns.push(clientTun);
    await place(
      clientTun.name,
      o.clientNetns,
      o.clientAddrs ?? [],
      o.vips.map((v) => hostPrefix(v.address)),
    );
    const tunOf: Tun[] = [];
    const backends: LbDevice[] = [];
    for (const [ns, members] of groups) {
      const tun = openTun(o.backendDev ?? 'toalbb%d');
      tuns.push(tun);
      const addrs = [...new Set(members.map((i) => o.backends[i]?.address as string))];
      const families = new Set(addrs.map((a) => a.includes(':')));
      const routes = o.locals.filter((l) => families.has(l.includes(':'))).map(hostPrefix);
      await place(tun.name, ns, addrs.map(hostPrefix), routes);
      for (const i of members) tunOf[i] = tun;
      backends.push({ name: tun.name, netns: ns });
    }

    let writeErrors = 0;
    const largest = { client: 0, backend: 0 };
    const send = (tun: Tun | undefined, packet: Uint8Array) => {
      const side = tun === clientTun ? 'client' : 'backend';
      largest[side] = Math.max(largest[side], packet.length);
      try {
        tun?.write(packet);
      } catch {
        writeErrors++;
      }
    };
    clientTun.onPacket((p) => {
      for (const out of lb.fromClient(p))
        send(out.to === 'client' ? clientTun : tunOf[out.backend], out.packet);
    });
    for (const tun of new Set(tunOf)) {
      tun.onPacket((p) => {
        for (const out of lb.fromBackend(p))
          send(out.to === 'client' ? clientTun : tunOf[out.backend], out.packet);
      });
    }
    const sweep = setInterval(() => lb.expire(), o.sweepMs ?? 1000);
    sweep.unref();
    return {
      lb,
      client: { name: clientTun.name, netns: o.clientNetns },
      backends,
      get writeErrors() {
        return writeErrors;
      },
      largest,
      async stop() {
        clearInterval(sweep);
        await closeAll();
      },
    };
  } catch (e) {
    await closeAll();
    throw e;
  }
}
