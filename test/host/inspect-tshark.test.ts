// The Wireshark dissector (contrib/wireshark/toa.lua) against `toa inspect --json`: on the
// project's generated captures (every format, IPv4/IPv6, link layers, malformed options),
// tshark's toa.* fields give, per connection, the client, port and format (or the rejection
// reason) the inspector reports. tshark comes from Debian (test/deps.sh installs it).
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { inspectFile as inspect } from '../../src/inspect/inspect.js';
import { encodeToa, FORMAT_NAMES, FORMATS, type FormatName, type ToaInput } from '../../src/wire/index.js';
import { ether, type HandshakeSpec, handshake, type Json, pcap, sll, tempFile } from './inspect-helpers.js';

const LUA = join(import.meta.dirname, '..', '..', 'contrib', 'wireshark', 'toa.lua');
const FIELDS = [
  'frame.number',
  'tcp.srcport',
  'toa.format',
  'toa.client',
  'toa.port',
  'toa.vip',
  'toa.vport',
  'toa.error',
];

interface Row {
  frame: number;
  srcPort: number;
  format: string;
  client: string;
  port: string;
  vip: string;
  vport: string;
  error: string;
}

function tshark(file: string, formats: readonly string[]): Row[] {
  const args = ['-n', '-r', file, '-X', `lua_script:${LUA}`, '-o', `toa.formats:${formats.join(',')}`];
  args.push('-T', 'fields', '-E', 'separator=/t', '-E', 'occurrence=f', ...FIELDS.flatMap((f) => ['-e', f]));
  const r = spawnSync('tshark', args, { encoding: 'utf8' });
  if (r.error) throw new Error(`tshark did not run (${r.error.message}): install it with test/deps.sh`);
  // tshark run as root warns on stderr; a Lua error would be there too, with a failing status.
  if (r.status !== 0) throw new Error(`tshark exited ${r.status}: ${r.stderr}`);
  return r.stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [
        frame = '',
        srcPort = '',
        format = '',
        client = '',
        port = '',
        vip = '',
        vport = '',
        error = '',
      ] = line.split('\t');
      return { frame: Number(frame), srcPort: Number(srcPort), format, client, port, vip, vport, error };
    });
}

const V4 = { lb: '198.51.100.1', backend: '198.51.100.2' };
const V6 = { lb: '2001:db8::1', backend: '2001:db8::2' };

// A client for each format, IPv4 and IPv6 where the format has both (host ids take either).
function clients(name: FormatName): ToaInput[] {
  const port = 1024 + FORMAT_NAMES.indexOf(name);
  switch (name) {
    case '254/8':
    case '200/8':
    case '252/8':
    case '253/8':
      return [{ format: name, address: '203.0.113.7', port }];
    case '254/20':
    case '253/20':
      return [
        { format: name, address: '2001:db8:77::7', port },
        { format: name, address: '::ffff:203.0.113.8', port: 65535 },
        { format: name, address: '::203.0.113.12', port: 0 },
      ];
    case '28/7':
      return [{ format: name, address: '203.0.113.9' }];
    case '28/19':
      return [
        { format: name, address: '2001:db8::1:0:0:9' },
        { format: name, address: '2001:db8:0:1:1:1:1:1' },
      ];
    case '254/16':
      return [{ format: name, address: '203.0.113.10', port, vip: { address: '198.51.100.80', port: 443 } }];
    case '253/hostid':
    case '254/hostid':
      return [
        { format: name, address: '203.0.113.11' },
        { format: name, address: '2001:db8:0:0:1::b' },
      ];
  }
}

type Frame = (ip: Uint8Array) => Uint8Array;
const LINKS: Frame[] = [ether, (ip) => ether(ip, [[0x8100, 42]]), sll];

// One capture of many connections, each with its own LB port; the link layer varies with it.
function capture(specs: HandshakeSpec[], linktype: 1 | 113): string {
  const frames = specs.flatMap((h, i) => {
    const wrap = linktype === 113 ? sll : (LINKS[i % 2] as Frame);
    return handshake(h).map((ip) => wrap(ip));
  });
  return tempFile(pcap(frames, { linktype }));
}

/** Every connection of the inspector against tshark's rows of its LB's packets. */
function same(conns: Json[], rows: Row[]): number {
  let compared = 0;
  for (const c of conns) {
    const mine = rows.filter((r) => r.srcPort === c.lbPort);
    const decoded = mine.filter((r) => r.format !== '');
    const failed = mine.filter((r) => r.error !== '');
    const where = `connection from port ${c.lbPort}`;
    const malformed = c.anomalies.find((a: Json) => a.kind === 'malformed');
    if (c.toa) {
      const first = decoded[0];
      assert.ok(first, `${where}: tshark found no TOA, toa inspect found ${c.toa.format}`);
      assert.equal(
        [first?.format, first?.client, first?.port, first?.vip, first?.vport],
        [
          c.toa.format,
          c.toa.address,
          String(c.toa.port ?? ''),
          c.toa.vip?.address ?? '',
          String(c.toa.vip?.port ?? ''),
        ],
        where,
      );
      // Every segment that carried it (conflicting ones are a second client: listed apart).
      if (!c.anomalies.some((a: Json) => a.kind === 'conflict'))
        assert.is(decoded.length, c.toaIn.length + c.retransmits, `${where}: TOA segments`);
    } else assert.is(decoded.length, 0, `${where}: tshark decoded ${decoded[0]?.format}`);
    if (malformed) assert.is(failed[0]?.error, malformed.reason, `${where}: rejection reason`);
    else assert.is(failed.length, 0, `${where}: tshark rejected it (${failed[0]?.error})`);
    compared++;
  }
  return compared;
}

const ROLES: HandshakeSpec['toaIn'][] = [['syn'], ['ack', 'data']];

for (const linktype of [1, 113] as const) {
  test(`every format, IPv4 and IPv6 connections, link type ${linktype}: tshark agrees with toa inspect`, async () => {
    const specs: HandshakeSpec[] = [];
    let lbPort = 42000;
    for (const f of FORMATS)
      for (const toa of clients(f.name))
        for (const addrs of [V4, V6])
          for (const toaIn of ROLES) specs.push({ ...addrs, lbPort: lbPort++, toa, toaIn });
    const file = capture(specs, linktype);
    const all = await inspectFile(file, FORMAT_NAMES);
    assert.is(all.length, specs.length);
    assert.ok(all.every((c) => c.toa !== null));
    assert.is(same(all, tshark(file, FORMAT_NAMES)), specs.length);
    // Under the default set only 254/8 and 254/20 decode; other kind 254 lengths are rejected.
    const defaults = await inspectFile(file, ['254/8', '254/20']);
    assert.is(same(defaults, tshark(file, ['254/8', '254/20'])), specs.length);
  });
}

test('malformed options, a duplicate, a conflict, User Timeout and no TOA: same verdicts', async () => {
  const t = (format: FormatName, address: string, port?: number) =>
    encodeToa(port === undefined ? { format, address } : { format, address, port });
  const specs: HandshakeSpec[] = [
    { toa: Uint8Array.of(254, 10, 0, 80, 1, 2, 3, 4, 5, 6) }, // toa-len
    { toa: Uint8Array.of(254, 12, 0, 80) }, // opt-trunc: runs past the block
    { toa: Uint8Array.of(254, 1, 0, 80) }, // opt-len
    { toa: t('254/8', '203.0.113.1', 1), extra: { syn: t('254/20', '2001:db8::5', 2) } }, // toa-dup
    { toa: Uint8Array.of(28, 7, 2, 203, 0, 113, 2) }, // toa-version
    { toa: Uint8Array.of(254, 7, 0x03, 0x48, 1, 2, 3) }, // hostid-len
    { toa: Uint8Array.of(28, 4, 0x80, 0x10) }, // User Timeout: not a TOA
    { toa: t('200/8', '203.0.113.3', 3), toaIn: ['ack'], toaFor: { data: t('200/8', '203.0.113.4', 4) } },
    { ...V6, toa: t('253/8', '203.0.113.5', 5), toaIn: ['syn', 'ack', 'data'] },
    {}, // no options but MSS
  ];
  const file = capture(
    specs.map((s, i) => ({ ...V4, ...s, lbPort: 43000 + i })),
    1,
  );
  const conns = await inspectFile(file, FORMAT_NAMES);
  assert.is(conns.length, specs.length);
  assert.equal(
    conns.map((c) => c.anomalies.find((a: Json) => a.kind === 'malformed')?.reason ?? c.toa?.format ?? null),
    ['toa-len', 'opt-trunc', 'opt-len', 'toa-dup', 'toa-version', 'hostid-len', null, '200/8', '253/8', null],
  );
  assert.is(same(conns, tshark(file, FORMAT_NAMES)), specs.length);
});

/** `toa inspect FILE --json --formats ...`: its connection objects. */
async function inspectFile(file: string, formats: readonly FormatName[]): Promise<Json[]> {
  const lines: string[] = [];
  await inspect({ file, json: true, formats }, (l) => lines.push(l));
  return lines.map((l) => JSON.parse(l));
}

test.run();
