// A plain Node TCP server run inside a namespace (`ip netns exec NS node -e ...`): the kernel
// socket the peer talks to. It reports what it sees (notably remoteAddress/remotePort, i.e.
// getpeername) as JSON lines and takes commands on stdin; the test process drives it.
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { inNetns } from './netns.js';

// Runs in the child: keep it plain JavaScript with no imports of ours.
const SCRIPT = `
const net = require('node:net');
const { listen, echo } = JSON.parse(process.argv[1]);
const out = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
const socks = new Map();
let next = 0;
let up = 0;
for (const l of listen) {
  const server = net.createServer((s) => {
    const id = ++next;
    socks.set(id, s);
    out({ ev: 'connection', id, remoteAddress: s.remoteAddress, remotePort: s.remotePort,
      remoteFamily: s.remoteFamily, localAddress: s.localAddress, localPort: s.localPort });
    s.on('data', (d) => { out({ ev: 'data', id, hex: d.toString('hex') }); if (echo) s.write(d); });
    s.on('end', () => out({ ev: 'end', id }));
    s.on('error', (e) => out({ ev: 'error', id, message: e.message }));
    s.on('close', () => { socks.delete(id); out({ ev: 'close', id }); });
  });
  const ipv6Only = l.ipv6Only ?? l.host.includes(':');
  server.listen({ host: l.host, port: l.port, ipv6Only }, () => {
    if (++up === listen.length) out({ ev: 'listening' });
  });
  server.on('error', (e) => { out({ ev: 'fatal', message: e.message }); process.exit(1); });
}
require('node:readline').createInterface({ input: process.stdin }).on('line', (line) => {
  const c = JSON.parse(line);
  const s = socks.get(c.id);
  if (!s) return out({ ev: 'error', id: c.id, message: 'no such connection' });
  if (c.cmd === 'write') s.write(Buffer.from(c.hex, 'hex'));
  if (c.cmd === 'end') s.end();
  if (c.cmd === 'destroy') s.destroy();
}).on('close', () => process.exit(0));
`;

export interface ServerEvent {
  ev: 'listening' | 'connection' | 'data' | 'end' | 'error' | 'close' | 'fatal';
  id?: number;
  remoteAddress?: string;
  remotePort?: number;
  remoteFamily?: string;
  localAddress?: string;
  localPort?: number;
  hex?: string;
  message?: string;
}

export interface ServerOptions {
  netns: string;
  /**
   * Addresses to listen on. An IPv6 host listens IPv6-only unless `ipv6Only: false` (a dual-stack
   * `::` listener, Node's default, where IPv4 clients appear as ::ffff:a.b.c.d).
   */
  listen: { host: string; port: number; ipv6Only?: boolean }[];
  /** Write every received chunk back. */
  echo?: boolean;
  /** How long to wait for the listening sockets; default 20000 ms (node starts slowly under QEMU TCG). */
  startTimeoutMs?: number;
}

export interface Server {
  /** Every event so far, in order. */
  readonly events: ServerEvent[];
  /** The first event (past or future) matching; rejects after timeoutMs. */
  waitFor(match: (e: ServerEvent) => boolean, timeoutMs?: number): Promise<ServerEvent>;
  write(id: number, bytes: Uint8Array | string): void;
  end(id: number): void;
  destroy(id: number): void;
  /** Stop the server process (closing its stdin); kills it if it lingers. */
  stop(): Promise<void>;
}

export async function startServer(o: ServerOptions): Promise<Server> {
  const [cmd = 'ip', ...args] = inNetns(o.netns, [process.execPath, '-e', SCRIPT, JSON.stringify(o)]);
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const events: ServerEvent[] = [];
  const watchers = new Set<(e: ServerEvent) => void>();
  let stderr = '';
  child.stderr?.on('data', (d) => {
    stderr += d;
  });
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    const e = JSON.parse(line) as ServerEvent;
    events.push(e);
    for (const w of [...watchers]) w(e);
  });
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));

  const waitFor = (match: (e: ServerEvent) => boolean, timeoutMs = 5000) =>
    new Promise<ServerEvent>((resolve, reject) => {
      const seen = events.find(match);
      if (seen) return resolve(seen);
      const done = (err?: Error, e?: ServerEvent) => {
        clearTimeout(timer);
        watchers.delete(watch);
        if (err) reject(err);
        else resolve(e as ServerEvent);
      };
      const watch = (e: ServerEvent) => {
        if (match(e)) done(undefined, e);
        else if (e.ev === 'fatal') done(new Error(`server in ${o.netns} failed: ${e.message}`));
      };
      const timer = setTimeout(
        () =>
          done(new Error(`server event not seen within ${timeoutMs} ms; stderr: ${stderr.trim() || 'none'}`)),
        timeoutMs,
      );
      watchers.add(watch);
    });

  const send = (cmd: object) => child.stdin?.write(`${JSON.stringify(cmd)}\n`);
  const server: Server = {
    events,
    waitFor,
    write: (id, bytes) => send({ cmd: 'write', id, hex: Buffer.from(bytes).toString('hex') }),
    end: (id) => send({ cmd: 'end', id }),
    destroy: (id) => send({ cmd: 'destroy', id }),
    stop: () => stopChild(child, exited),
  };
  try {
    await waitFor((e) => e.ev === 'listening', o.startTimeoutMs ?? 20000);
  } catch (e) {
    await server.stop();
    throw e;
  }
  return server;
}

async function stopChild(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.stdin?.end();
  const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
  await exited;
  clearTimeout(timer);
}
