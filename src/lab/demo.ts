// `make demo`, run inside a QEMU lab guest (test/vm/boot.sh puts toa.ko's path in TOA_KO): a client
// namespace, the lab load balancer (`toa lab lb`, the CLI) and two backend namespaces each running
// a Node HTTP server that answers with what req.socket.remoteAddress/remotePort said. curl asks
// from several client addresses, once with toa.ko loaded and once without; a table shows what each
// backend saw. Exits 1, saying why, when a backend did not see the client with the module loaded,
// or did not see the LB without it.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { curl } from './curl.js';
import { createNetns, deleteNetns } from './netns.js';
import { startWhoami, type Whoami } from './whoami.js';

const NS = { client: 'toa-demo-client', b1: 'toa-demo-b1', b2: 'toa-demo-b2' };
const LOCAL = { 4: '198.51.100.1', 6: '2001:db8:b::1' };
const VIP = { 4: '203.0.113.1', 6: '2001:db8:c::1' };
const CLIENTS = [
  '203.0.113.10',
  '203.0.113.11',
  '203.0.113.12',
  '203.0.113.13',
  '2001:db8:c::10',
  '2001:db8:c::11',
];
const LB_ARGS = [
  ...['--vip', `${VIP[4]}:80`, '--vip', `[${VIP[6]}]:80`],
  ...['--backend', `198.51.100.10:8080@${NS.b1}`, '--backend', `198.51.100.11:8080@${NS.b2}`],
  ...['--backend', `[2001:db8:b::10]:8080@${NS.b1}`, '--backend', `[2001:db8:b::11]:8080@${NS.b2}`],
  ...['--local', LOCAL[4], '--local', LOCAL[6], '--client-netns', NS.client],
  ...CLIENTS.flatMap((c) => ['--client-addr', c.includes(':') ? `${c}/64` : `${c}/24`]),
  '--log',
];

interface Row {
  family: 4 | 6;
  clientIp: string;
  clientPort: number;
  backend: string;
  /** req.socket.remoteAddress and remotePort on the backend. */
  seenIp: string;
  seenPort: number;
  /** local:port the LB used towards the backend for this connection (from its --log line). */
  lb: string;
}

const ko = process.env.TOA_KO ?? '';
// `make demo` builds first and runs dist/: the LB is then the built CLI as installed (bin/toa.js),
// which starts in a fraction of tsx's time under emulation. Run through tsx, the source CLI.
const CLI = import.meta.url.includes('/dist/') ? ['bin/toa.js'] : ['--import', 'tsx', 'src/cli/main.ts'];
const sh = (cmd: string, ...args: string[]) => execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
const unmapped = (a: string) => a.replace(/^::ffff:/, '');
const endpoint = (a: string, p: number) => (a.includes(':') ? `[${a}]:${p}` : `${a}:${p}`);

function unload(): void {
  try {
    sh('rmmod', 'toa');
  } catch {
    // not loaded
  }
}

/** The LB as a user runs it; resolves once it printed `ready`, with its --log lines collected. */
function startLbCli(log: string[]): Promise<ChildProcess> {
  const child = spawn(process.execPath, [...CLI, 'lab', 'lb', ...LB_ARGS], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, UV_THREADPOOL_SIZE: '8' },
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('toa lab lb did not get ready within 60 s')), 60_000);
    child.on('close', (code) => reject(new Error(`toa lab lb exited with ${code} before it was ready`)));
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      log.push(line);
      if (line.startsWith('ready:')) {
        clearTimeout(timer);
        resolve(child);
      }
    });
  });
}

async function stopLb(lb: ChildProcess): Promise<void> {
  if (lb.exitCode !== null || lb.signalCode !== null) return;
  const exited = new Promise((resolve) => lb.once('close', resolve));
  lb.kill('SIGTERM');
  const timer = setTimeout(() => lb.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

async function round(servers: Whoami[], log: string[]): Promise<Row[]> {
  const rows: Row[] = [];
  for (const from of CLIENTS) {
    const family = from.includes(':') ? 6 : 4;
    const r = await curl({ netns: NS.client, from, url: `http://${endpoint(VIP[family], 80)}/` });
    const seen = JSON.parse(r.body.toString()) as {
      backend: string;
      remoteAddress: string;
      remotePort: number;
    };
    const opened = log.find((l) => l.startsWith(`open  ${endpoint(r.localIp, r.localPort)} `));
    rows.push({
      family,
      clientIp: r.localIp,
      clientPort: r.localPort,
      backend: seen.backend,
      seenIp: seen.remoteAddress,
      seenPort: seen.remotePort,
      lb: opened?.split(' = ')[1]?.split(' -> ')[0] ?? '(no log line)',
    });
  }
  if (servers.some((s) => s.requests.length === 0))
    throw new Error('a backend got no request: round-robin broken');
  return rows;
}

function table(withToa: Row[], without: Row[]): string[] {
  const head = [
    'client (with toa.ko)',
    'backend',
    'seen with toa.ko',
    'client (without)',
    'seen without toa.ko',
  ];
  const cells = withToa.map((w, i) => {
    const o = without[i] as Row;
    return [
      endpoint(w.clientIp, w.clientPort),
      w.backend,
      endpoint(w.seenIp, w.seenPort),
      endpoint(o.clientIp, o.clientPort),
      endpoint(o.seenIp, o.seenPort),
    ];
  });
  const widths = head.map((h, c) => Math.max(h.length, ...cells.map((r) => (r[c] as string).length)));
  const line = (r: string[]) =>
    r
      .map((v, c) => v.padEnd(widths[c] as number))
      .join('  ')
      .trimEnd();
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)];
}

function check(withToa: Row[], without: Row[]): string[] {
  const bad: string[] = [];
  const seen = (r: Row) => endpoint(unmapped(r.seenIp), r.seenPort);
  for (const r of withToa) {
    if (seen(r) !== endpoint(r.clientIp, r.clientPort))
      bad.push(
        `with toa.ko, ${r.backend} saw ${seen(r)}, not the client ${endpoint(r.clientIp, r.clientPort)}`,
      );
  }
  for (const r of without) {
    if (unmapped(r.seenIp) !== LOCAL[r.family] || seen(r) !== r.lb)
      bad.push(`without toa.ko, ${r.backend} saw ${seen(r)}, not the LB's ${r.lb}`);
  }
  return bad;
}

async function main(): Promise<number> {
  if (!ko || !existsSync(ko))
    throw new Error('TOA_KO is unset or missing: run `make demo` (the QEMU lab builds and passes toa.ko)');
  for (const ns of Object.values(NS)) if (existsSync(`/run/netns/${ns}`)) await deleteNetns(ns);
  for (const ns of Object.values(NS)) await createNetns(ns);
  const log: string[] = [];
  const servers: Whoami[] = [];
  let lb: ChildProcess | undefined;
  try {
    const [started, ...backends] = await Promise.all([
      startLbCli(log),
      startWhoami({ netns: NS.b1, name: 'b1', port: 8080 }),
      startWhoami({ netns: NS.b2, name: 'b2', port: 8080 }),
    ]);
    lb = started as ChildProcess;
    servers.push(...(backends as Whoami[]));
    unload();
    sh('insmod', ko);
    const withToa = await round(servers, log);
    unload();
    const without = await round(servers, log);

    console.log(`\ntoa lab lb ${LB_ARGS.join(' ')}`);
    console.log(`Node HTTP servers on :8080 (dual stack) in ${NS.b1} and ${NS.b2}; curl in ${NS.client}\n`);
    for (const l of table(withToa, without)) console.log(l);
    const bad = check(withToa, without);
    if (bad.length) {
      for (const b of bad) console.log(`FAIL: ${b}`);
      return 1;
    }
    console.log(
      `\nOK: with toa.ko every backend saw the client's own address and port; without it, the LB's (${LOCAL[4]}, ${LOCAL[6]}).`,
    );
    return 0;
  } finally {
    unload();
    if (lb) await stopLb(lb);
    await Promise.all(servers.map((s) => s.stop()));
    for (const ns of Object.values(NS)) await deleteNetns(ns).catch(() => {});
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: Error) => {
    console.error(`demo: FAIL: ${err.message}`);
    process.exitCode = 1;
  },
);
