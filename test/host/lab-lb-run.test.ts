// The lab load balancer on real TUN devices in namespaces of this machine (no kernel module here:
// the backends see the LB): curl from two client addresses and IPv6 to Node servers in two backend
// namespaces, 1 MiB back, the LB's port as the backend saw it. Skipped without root or /dev/net/tun.
import { existsSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { curl } from '../../src/lab/curl.js';
import type { NatEntry } from '../../src/lab/lb.js';
import { type RunningLb, startLb } from '../../src/lab/lb-run.js';
import { createNetns, deleteNetns, ip } from '../../src/lab/netns.js';
import { patternBytes, startWhoami, type Whoami } from '../../src/lab/whoami.js';
import { addressToText } from '../../src/wire/index.js';

const why =
  process.getuid?.() !== 0 ? 'not root' : existsSync('/dev/net/tun') ? undefined : 'no /dev/net/tun';
if (why) console.log(`lab-lb-run: skipped (${why})`);
const it = why ? test.skip : test;

let c: string;
let b1: string;
let b2: string;
let run: RunningLb;
let servers: Whoami[] = [];
const opened: NatEntry[] = [];

test.before(async () => {
  if (why) return;
  [c, b1, b2] = [await createNetns(), await createNetns(), await createNetns()];
  run = await startLb({
    vips: [
      { address: '203.0.113.1', port: 80 },
      { address: '2001:db8:c::1', port: 80 },
    ],
    backends: [
      { address: '198.51.100.10', port: 8080 },
      { address: '198.51.100.11', port: 8080 },
      { address: '2001:db8:b::10', port: 8080 },
    ],
    backendNetns: [b1, b2, b2],
    locals: ['198.51.100.1', '2001:db8:b::1'],
    clientNetns: c,
    clientAddrs: ['203.0.113.10/24', '203.0.113.11/24', '2001:db8:c::10/64'],
    onEvent: (e) => {
      if (e.kind === 'open') opened.push(e.entry);
    },
  });
  servers = await Promise.all([
    startWhoami({ netns: b1, name: 'b1', port: 8080, host: '0.0.0.0' }),
    startWhoami({ netns: b2, name: 'b2', port: 8080 }),
  ]);
});

test.after(async () => {
  if (why) return;
  await Promise.all(servers.map((s) => s.stop()));
  await run?.stop();
  for (const ns of [c, b1, b2]) await deleteNetns(ns);
});

it('without toa.ko each backend sees the LB address and the port it chose; round-robin', async () => {
  const seen: string[] = [];
  for (const from of ['203.0.113.10', '203.0.113.11', '2001:db8:c::10']) {
    const vip = from.includes(':') ? '[2001:db8:c::1]' : '203.0.113.1';
    const r = await curl({ netns: c, from, url: `http://${vip}/` });
    const body = JSON.parse(r.body.toString()) as {
      backend: string;
      remoteAddress: string;
      remotePort: number;
    };
    const entry = opened.find((e) => addressToText(e.client) === r.localIp && e.clientPort === r.localPort);
    assert.ok(entry, `an entry for ${r.localIp}:${r.localPort}`);
    assert.is(body.remoteAddress.replace(/^::ffff:/, ''), addressToText(entry?.local as Uint8Array));
    assert.is(body.remotePort, entry?.localPort);
    seen.push(`${body.backend} ${body.remoteAddress}`);
  }
  assert.equal(seen, ['b1 198.51.100.1', 'b2 ::ffff:198.51.100.1', 'b2 2001:db8:b::1']);
});

it('1 MiB back through the LB arrives intact; packets within the MTU', async () => {
  const r = await curl({ netns: c, from: '203.0.113.10', url: `http://203.0.113.1/bytes/${1 << 20}` });
  assert.ok(r.body.equals(patternBytes(1 << 20)));
  assert.ok(run.largest.client <= 1500 && run.largest.backend <= 1500, JSON.stringify(run.largest));
  assert.is(run.writeErrors, 0);
  assert.is(run.lb.stats.dropped.checksum, 0);
});

it('stop() removes the devices from their namespaces', async () => {
  const dev = run.client.name;
  assert.match(await ip('-n', c, 'link', 'show'), dev);
  await run.stop();
  assert.not.match(await ip('-n', c, 'link', 'show'), dev);
});

test.run();
