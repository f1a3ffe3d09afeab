// A Node HTTP server run inside a namespace (`ip netns exec NS node -e ...`) that answers every
// request with who it thinks connected (req.socket.remoteAddress/remotePort, i.e. getpeername),
// the app's view behind the lab load balancer. GET /bytes/N also sends N pattern bytes; a POST
// is answered with the size and sha256 of its body. Each request is reported as a JSON line.
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { inNetns } from './netns.js';

// Runs in the child: plain JavaScript with no imports of ours.
const SCRIPT = `
const http = require('node:http');
const { createHash } = require('node:crypto');
const { name, host, port } = JSON.parse(process.argv[1]);
const server = http.createServer((req, res) => {
  const seen = { backend: name, remoteAddress: req.socket.remoteAddress, remotePort: req.socket.remotePort };
  const hash = createHash('sha256');
  let bytes = 0;
  req.on('data', (d) => { bytes += d.length; hash.update(d); });
  req.on('end', () => {
    const body = req.method === 'POST' ? { ...seen, bytes, sha256: hash.digest('hex') } : seen;
    console.log(JSON.stringify({ ...body, method: req.method, url: req.url }));
    const m = /^\\/bytes\\/(\\d+)$/.exec(req.url);
    if (!m) return res.end(JSON.stringify(body) + '\\n');
    const n = Number(m[1]);
    res.writeHead(200, { 'content-length': n, 'x-seen': JSON.stringify(seen) });
    res.end(Buffer.alloc(n, 0).map((_, i) => (i * 31) & 0xff));
  });
});
server.listen(port, host, () => console.log(JSON.stringify({ listening: port })));
server.on('error', (e) => { console.log(JSON.stringify({ fatal: e.message })); process.exit(1); });
process.stdin.on('end', () => process.exit(0)).resume();
`;

export interface Seen {
  backend: string;
  remoteAddress: string;
  remotePort: number;
  method?: string;
  url?: string;
  bytes?: number;
  sha256?: string;
}

export interface Whoami {
  /** Every request so far, in order. */
  readonly requests: Seen[];
  stop(): Promise<void>;
}

export interface WhoamiOptions {
  netns: string;
  name: string;
  port: number;
  /** Default: Node's own default, the dual-stack `::` (IPv4 clients as ::ffff:a.b.c.d). */
  host?: string;
  /** Node starts slowly under QEMU TCG. */
  startTimeoutMs?: number;
}

/** The bytes GET /bytes/N sends. */
export function patternBytes(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31) & 0xff;
  return b;
}

export function startWhoami(o: WhoamiOptions): Promise<Whoami> {
  const [cmd = 'ip', ...args] = inNetns(o.netns, [process.execPath, '-e', SCRIPT, JSON.stringify(o)]);
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const requests: Seen[] = [];
  let stderr = '';
  child.stderr?.on('data', (d) => {
    stderr += d;
  });
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  const whoami: Whoami = { requests, stop: () => stop(child, exited) };
  return new Promise((resolve, reject) => {
    const fail = (why: string) => {
      clearTimeout(timer);
      void whoami.stop();
      reject(new Error(`HTTP server ${o.name} in ${o.netns}: ${why}; stderr: ${stderr.trim() || 'none'}`));
    };
    const timer = setTimeout(() => fail('not listening in time'), o.startTimeoutMs ?? 30_000);
    child.on('close', () => fail('exited'));
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      const msg = JSON.parse(line) as Seen & { listening?: number; fatal?: string };
      if (msg.fatal) fail(msg.fatal);
      else if (msg.listening) {
        clearTimeout(timer);
        resolve(whoami);
      } else requests.push(msg);
    });
  });
}

async function stop(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.stdin?.end();
  const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
  await exited;
  clearTimeout(timer);
}
