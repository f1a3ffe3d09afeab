// vagrant/'s network, rehearsed in namespaces of this machine: one L2 segment (a bridge) with a
// client, the LB "VM" and a backend "VM"; the LB VM runs the lab LB with its TUN devices, the
// forwarding sysctls of lb.sh and the DNAT table lb-dnat.sh prints; the backend runs
// vagrant/whoami.mjs. No toa.ko here: the backend must see the LB's source address, and a capture
// on its NIC must hold the TOA naming the client, which is what toa.ko reads on a real backend.
// Addresses are the documentation ranges, not vagrant's 192.168.56.0/24. Skipped without root,
// /dev/net/tun or nft.
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type RunningLb, startLb } from '../../src/lab/lb-run.js';
import { createNetns, deleteNetns, ip } from '../../src/lab/netns.js';

const exec = promisify(execFile);
const VAGRANT = join(import.meta.dirname, '../../vagrant');
const NET = { client: '203.0.113.10', lb: '203.0.113.20', backend: '203.0.113.31' };
const VIP = '203.0.113.100';
const LOCAL = '203.0.113.200';
const STAND_IN = '203.0.113.131';
const PORT = 8080;

const why =
  process.getuid?.() !== 0
    ? 'not root'
    : !existsSync('/dev/net/tun')
      ? 'no /dev/net/tun'
      : !existsSync('/usr/sbin/nft')
        ? 'no nft (apt-get install nftables)'
        : undefined;
if (why) console.log(`vagrant-net: skipped (${why})`);
const it = why ? test.skip : test;

const nsExec = (ns: string, argv: string[]) => exec('ip', ['netns', 'exec', ns, ...argv]);
let sw: string;
let client: string;
let lbNs: string;
let backend: string;
let lb: RunningLb | undefined;
const children: ReturnType<typeof spawn>[] = [];
const dir = mkdtempSync(join(tmpdir(), 'toa-vagrant-net-'));

/** Start argv in ns; resolves once a line of its stdout matches `ready`. */
function start(ns: string, argv: string[], ready: RegExp): Promise<void> {
  const child = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${argv[0]} not ready in 20 s: ${out}`)), 20_000);
    const seen = (b: Buffer) => {
      out += b.toString();
      if (ready.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', seen);
    child.stderr?.on('data', seen);
    child.on('exit', (code) => reject(new Error(`${argv[0]} exited ${code}: ${out}`)));
  });
}

/** "Capturing on" comes before packets are seen: poke the backend until the file holds a SYN. */
async function captureLive(from: string, pcap: string): Promise<void> {
  for (let i = 0; i < 40; i++) {
    await nsExec(from, ['curl', '-s', '-m', '1', '-o', '/dev/null', `http://${NET.backend}:${PORT}/`]).catch(
      () => {},
    );
    const { stdout } = await exec('tshark', ['-r', pcap, '-Y', 'tcp.flags.syn == 1']).catch(() => ({
      stdout: '',
    }));
    if (stdout.trim() !== '') return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error('the capture on the backend saw nothing in 10 s');
}

test.before(async () => {
  try {
    if (why) return;
    [sw, client, lbNs, backend] = [
      await createNetns(),
      await createNetns(),
      await createNetns(),
      await createNetns(),
    ];
    await ip('-n', sw, 'link', 'add', 'br0', 'type', 'bridge');
    await ip('-n', sw, 'link', 'set', 'br0', 'up');
    const nodes: [string, string][] = [
      [client, NET.client],
      [lbNs, NET.lb],
      [backend, NET.backend],
    ];
    for (const [i, [ns, addr]] of nodes.entries()) {
      const port = `tvg${process.pid % 10000}p${i}`;
      await ip('link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth1', 'netns', ns);
      await ip('link', 'set', port, 'netns', sw);
      await ip('-n', sw, 'link', 'set', port, 'master', 'br0', 'up');
      await ip('-n', ns, 'addr', 'add', `${addr}/24`, 'dev', 'eth1');
      await ip('-n', ns, 'link', 'set', 'eth1', 'up');
      await ip('-n', ns, 'link', 'set', 'lo', 'up');
    }
    // client.sh and backend.sh: the VIP and the LB's source address are reached via the LB VM.
    await ip('-n', client, 'route', 'replace', `${VIP}/32`, 'via', NET.lb);
    await ip('-n', backend, 'route', 'replace', `${LOCAL}/32`, 'via', NET.lb);
    // lb.sh: forwarding, loose reverse-path filter, the DNAT table.
    await nsExec(lbNs, [
      'sysctl',
      '-qw',
      'net.ipv4.ip_forward=1',
      'net.ipv4.conf.all.rp_filter=2',
      'net.ipv4.conf.default.rp_filter=2',
    ]);
    const { stdout: table } = await exec(join(VAGRANT, 'lb-dnat.sh'), [
      String(PORT),
      `${STAND_IN}=${NET.backend}`,
    ]);
    await new Promise<void>((resolve, reject) => {
      const nft = spawn('ip', ['netns', 'exec', lbNs, 'nft', '-f', '-'], {
        stdio: ['pipe', 'inherit', 'inherit'],
      });
      nft.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`nft -f: exit ${code}`))));
      nft.stdin.end(table);
    });
    // lb.sh's `toa lab lb`; here its devices go into the LB's namespace instead of staying in the VM's.
    lb = await startLb({
      vips: [{ address: VIP, port: 80 }],
      backends: [{ address: STAND_IN, port: PORT }],
      backendNetns: [lbNs],
      locals: [LOCAL],
      clientNetns: lbNs,
      format4: '254/8',
      format6: '254/20',
      timeouts: { idleMs: 300_000 },
      ports: [1024, 65535],
    });
    await start(backend, ['node', join(VAGRANT, 'whoami.mjs'), String(PORT)], /whoami on/);
    await start(
      backend,
      ['tshark', '-i', 'eth1', '-w', join(dir, 'backend.pcap'), '-f', `tcp port ${PORT}`],
      /Capturing on/,
    );
    await captureLive(lbNs, join(dir, 'backend.pcap'));
  } catch (e) {
    // uvu does not print a failing hook's error.
    console.error(`vagrant-net: setup failed: ${(e as Error).message}`);
    throw e;
  }
});

test.after(async () => {
  if (why) return;
  for (const c of children) c.kill('SIGTERM');
  await lb?.stop();
  for (const ns of [client, lbNs, backend, sw]) if (ns) await deleteNetns(ns);
  if (!process.env.KEEP) rmSync(dir, { recursive: true, force: true });
});

it('one curl: through the LB and the DNAT to the backend, which sees the LB; its NIC got the TOA', async () => {
  const { stdout } = await nsExec(client, ['curl', '-s', '-m', '10', `http://${VIP}/`]);
  const m = /^(?:::ffff:)?([\d.]+):(\d+)$/.exec(stdout.trim());
  assert.ok(m, `whoami said ${JSON.stringify(stdout)}`);
  assert.is(m[1], LOCAL, 'without toa.ko the backend sees the LB source address');
  // tshark writes what it has when interrupted; the capture is complete once it exits.
  const tshark = children.at(-1);
  await new Promise((r) => setTimeout(r, 500));
  const exited = new Promise((r) => tshark?.once('exit', r));
  tshark?.kill('SIGINT');
  await exited;
  const { stdout: json } = await exec(process.execPath, [
    '--import',
    'tsx',
    'src/cli/main.ts',
    'inspect',
    '-r',
    join(dir, 'backend.pcap'),
    '--json',
  ]);
  const conns = json
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as { type: string; lb: string; toa?: { address: string }; toaIn?: string[] })
    .filter((c) => c.type === 'connection');
  // The probes of captureLive() came from the LB VM's own address, without a TOA.
  const viaLb = conns.filter((c) => c.lb === LOCAL);
  assert.is(viaLb.length, 1, json);
  assert.is(viaLb[0]?.toa?.address, NET.client, 'the TOA names the client after the DNAT');
  assert.ok(viaLb[0]?.toaIn?.includes('ack'), json);
});

test.run();
