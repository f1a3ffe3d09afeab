// `toa inspect` as a user runs it: output modes, --expect-toa as a health check, -w round trip,
// and every kind of bad input as one line on stderr with exit 2.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readCapture, recordBytes } from '../../src/inspect/pcap-read.js';
import { pcapFile } from '../../src/inspect/pcap-write.js';
import { cli, DIR, ether, handshake, inspect, pcap, pcapng, tempFile } from './inspect-helpers.js';

const V4 = { lb: '198.51.100.1', backend: '198.51.100.2' };
const TOA = { format: '254/8', address: '203.0.113.7', port: 8080 } as const;

const good = tempFile(
  pcap([
    ...handshake({ ...V4, lbPort: 1, toa: TOA, toaIn: ['ack', 'data'] }),
    ...handshake({ ...V4, lbPort: 2, backendPort: 443 }),
  ]),
);

test('human lines: one per connection, with the TOA and where it travelled', () => {
  const r = cli(['inspect', '-r', good]);
  assert.is(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.is(lines.length, 2);
  assert.match(
    lines[0] as string,
    /^#1 \d\d:\d\d:\d\d\.\d{6} 198\.51\.100\.1:1 > 198\.51\.100\.2:80 established toa 203\.0\.113\.7:8080 254\/8 in ack,data$/,
  );
  assert.match(lines[1] as string, /198\.51\.100\.1:2 > 198\.51\.100\.2:443 established no toa$/);
});

test('--json lines and --summary totals', () => {
  const json = cli(['inspect', '-r', good, '--json']);
  const objects = json.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.equal(
    objects.map((o) => [o.type, o.lbPort, o.toa?.address ?? null]),
    [
      ['connection', 1, '203.0.113.7'],
      ['connection', 2, null],
    ],
  );
  const summary = cli(['inspect', '-r', good, '--summary', '--json']);
  const s = JSON.parse(summary.stdout);
  assert.equal([s.type, s.packets, s.connections, s.withToa, s.validToa], ['summary', 8, 2, 1, 1]);
  const text = cli(['inspect', '-r', good, '--summary']);
  assert.match(text.stdout, /^packets 8: tcp 8, other 0, truncated 0, untracked 0\nconnections 2:/);
});

test('--expect-toa PORT: exit 0 when every handshake to it had a valid TOA, 1 when not', () => {
  assert.is(cli(['inspect', '-r', good, '--expect-toa', '80']).status, 0);
  const bad = cli(['inspect', '-r', good, '--expect-toa', '80,443']);
  assert.is(bad.status, 1);
  assert.match(bad.stdout, /ANOMALY no-toa: handshake to watched port 443 carried no TOA/);
  const untrusted = cli(['inspect', '-r', good, '--expect-toa', '80', '--trust', '203.0.113.0/24']);
  assert.is(untrusted.status, 1);
});

test('-w writes the packets of the reported connections; reading it back gives the same report', async () => {
  const noise = handshake({ ...V4, lbPort: 3, backendPort: 22 }).map((ip) => ether(ip));
  const wanted = handshake({ ...V4, lbPort: 1, toa: TOA, toaIn: ['syn'] }).map((ip) => ether(ip));
  const input = pcapFile(
    { linktype: 1, nanos: true },
    [noise[0], wanted[0], noise[1], wanted[1], wanted[2], noise[2], wanted[3], noise[3]].map((d, i) => ({
      data: d as Uint8Array,
      tsSec: 1_700_000_000 + i,
      tsNsec: 123_456_789,
    })),
  );
  const out = join(DIR, 'written.pcap');
  const first = await inspect(input, { ports: [80], write: out });
  const frames: string[] = [];
  const times: number[] = [];
  await readCapture(out, (r) => {
    frames.push(Buffer.from(recordBytes(r)).toString('hex'));
    times.push(r.tsNsec);
  });
  assert.equal(
    frames,
    wanted.map((w) => Buffer.from(w).toString('hex')),
  );
  assert.equal(times, [123_456_789, 123_456_789, 123_456_789, 123_456_789], 'nanoseconds kept');
  const again = await inspect(readFileSync(out));
  assert.equal(
    again.conns.map((c) => [c.lbPort, c.toa.address]),
    first.conns.map((c) => [c.lbPort, c.toa.address]),
  );
});

test('-w via the CLI', () => {
  const out = join(DIR, 'cli-written.pcap');
  const r = cli(['inspect', '-r', good, '-w', out, '--port', '443', '--summary']);
  assert.is(r.status, 1, 'port 443 had no TOA'); // --port also expects a TOA
  let count = 0;
  return readCapture(out, () => {
    count++;
  }).then(() => assert.is(count, 4));
});

const unknownLink = tempFile(pcap([Uint8Array.of(1, 2, 3)], { linktype: 147 }));
const truncated = tempFile(pcap(handshake({ ...V4, toa: TOA })).subarray(0, 100));
const notPcap = tempFile(new TextEncoder().encode('GET / HTTP/1.1\r\n'));
const ng = tempFile(pcapng([{ ifaces: [{ linktype: 1 }], packets: [] }]).subarray(0, 30), 'pcapng');

for (const [name, args, message] of [
  ['a non-pcap file', ['-r', notPcap], /: not a pcap or pcapng file \(it starts with 47455420\)$/],
  ['a missing file', ['-r', join(DIR, 'nope.pcap')], /nope\.pcap: no such file$/],
  [
    'an unknown link type',
    ['-r', unknownLink],
    /packet 1 is on link type 147, which toa inspect cannot decode/,
  ],
  [
    'a truncated pcap',
    ['-r', truncated],
    /: byte 92: file is truncated: 8 bytes of an incomplete record at its end$/,
  ],
  [
    'a truncated pcapng',
    ['-r', ng],
    /: byte 28: file is truncated: 2 bytes of an incomplete block at its end$/,
  ],
  ['an unknown flag', ['-r', good, '--bogus'], /unknown option '--bogus'/],
  ['a bad format list', ['-r', good, '--formats', '254/9'], /unknown TOA format "254\/9"/],
  ['a bad CIDR', ['-r', good, '--trust', '10.0.0.0/99'], /--trust 10\.0\.0\.0\/99: prefix must be 0\.\.32/],
  ['a bad port', ['-r', good, '--expect-toa', 'http'], /--expect-toa http: a port is 0\.\.65535/],
  ['no input', [], /give a capture file with -r FILE, or -i IFACE/],
  ['a BPF syntax error', ['-r', good, '--filter', 'tcp prot 80'], /--filter "tcp prot 80": .*syntax error/],
  ['both -r and -i', ['-r', good, '-i', 'lo'], /give either -r FILE or -i IFACE, not both/],
  ['--count on a file', ['-r', good, '--count', '5'], /--count and --duration are for live capture/],
  ['a bad --duration', ['-i', 'lo', '--duration', 'soon'], /--duration soon: give a number above 0/],
] as const)
  test(`bad input, ${name}: one line on stderr, exit 2`, () => {
    const r = cli(['inspect', ...args]);
    assert.is(r.status, 2, r.stderr);
    assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr.trim(), message);
  });

test('a truncated file: the connections before the damage are printed, nothing after', () => {
  const packets = [
    ...handshake({ ...V4, lbPort: 1, toa: TOA }),
    ...handshake({ ...V4, lbPort: 2, toa: TOA }),
  ];
  const whole = pcap(packets);
  const path = tempFile(whole.subarray(0, whole.length - 10));
  const r = cli(['inspect', '-r', path, '--json']);
  assert.is(r.status, 2);
  assert.equal(
    r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).lbPort),
    [1],
  );
});

test.run();
