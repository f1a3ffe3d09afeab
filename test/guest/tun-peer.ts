// What a server in an agent's network namespace sees: a TUN device there plays the load balancer
// (LB) and opens a connection carrying CLIENT in TOA (254/8). Shared by agent.test.ts and
// pod.test.ts, which run the agent directly and as the DaemonSet's pod.
import { createServer, type Server, type Socket } from 'node:net';
import { connect, ip, moveLink, openTun } from '../../src/lab/index.js';
import { enterNetns } from '../../src/module/netns-thread.js';
import { encodeOptions, encodeToa } from '../../src/wire/index.js';

export const LB = '198.51.100.7';
export const SERVER = '198.51.100.9';
export const CLIENT = '203.0.113.50';

/** A TUN peer in the agent's namespace playing the LB, and a listener there: what the server sees. */
export async function connectionSeen(ns: string, port: number): Promise<string> {
  const tun = openTun('toaagt%d');
  let server: Server | undefined;
  try {
    await moveLink(tun.name, ns, { addresses: [`${SERVER}/32`] });
    await ip('-n', ns, 'route', 'add', `${LB}/32`, 'dev', tun.name);
    server = createServer();
    const leave = enterNetns(ns);
    try {
      await new Promise<void>((resolve) => server?.listen({ host: SERVER, port: 8080 }, resolve));
    } finally {
      leave();
    }
    const accepted = new Promise<Socket>((resolve) => server?.once('connection', resolve));
    const c = await connect({
      tun,
      src: { address: LB, port },
      dst: { address: SERVER, port: 8080 },
      ackOptions: encodeOptions([encodeToa({ format: '254/8', address: CLIENT, port: 4321 })]),
    });
    const sock = await accepted;
    const seen = `${sock.remoteAddress}:${sock.remotePort}`;
    sock.destroy();
    c.abort();
    return seen;
  } finally {
    server?.close();
    await tun.close();
  }
}

/** A sample's value in a Prometheus text exposition (NaN when absent). */
export const metric = (text: string, name: string) =>
  Number(new RegExp(`^${name.replace(/[{}"]/g, '\\$&')} (\\S+)$`, 'm').exec(text)?.[1]);
