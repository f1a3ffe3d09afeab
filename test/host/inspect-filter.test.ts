// --filter on capture files. The BPF interpreter (src/inspect/bpf.ts) against libpcap's own
// pcap_offline_filter, which is what `tcpdump -r FILE EXPR` runs, on every frame of the
// project's link layers (whole, cut by a snaplen, not IP) for expressions that reach every
// instruction; then the CLI: tshark's display filter agrees on host and port cases, -w keeps
// only matching packets, frame numbers stay the file's, and a bad expression is one line, exit 2.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { DataType, load, open } from 'ffi-rs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runBpf } from '../../src/inspect/bpf.js';
import { compileBpf, createFilter } from '../../src/inspect/filter.js';
import { LINKTYPE } from '../../src/inspect/link.js';
import { readCapture, recordBytes } from '../../src/inspect/pcap-read.js';
import { ACK, buildSegment, SYN, textToAddress } from '../../src/wire/index.js';
import {
  cli,
  DIR,
  ether,
  handshake,
  inspect,
  type Json,
  pcap,
  pcapng,
  sll,
  sll2,
  tempFile,
} from './inspect-helpers.js';

// createFilter opens libpcap (as 'pcap') and libc for compileBpf; the oracle calls libpcap too.
await createFilter('tcp');
open({ library: 'pcap', path: 'libpcap.so.0.8' });
const ffi = await import('ffi-rs');

/** libpcap's verdict on each frame: compile for the link type, pcap_offline_filter each. */
function libpcapMatches(expression: string, linktype: number, frames: Uint8Array[], origLen: number[]) {
  const dlt = linktype === LINKTYPE.RAW ? 12 : linktype;
  const pcapT = load({
    library: 'pcap',
    funcName: 'pcap_open_dead',
    retType: DataType.External,
    paramsType: [DataType.I32, DataType.I32],
    paramsValue: [dlt, 262144],
  });
  const program = Buffer.alloc(16);
  const status = load({
    library: 'pcap',
    funcName: 'pcap_compile',
    retType: DataType.I32,
    paramsType: [DataType.External, DataType.U8Array, DataType.String, DataType.I32, DataType.U32],
    paramsValue: [pcapT, program, expression, 1, 0xffffffff],
  });
  const free = () => {
    load({
      library: 'pcap',
      funcName: 'pcap_freecode',
      retType: DataType.Void,
      paramsType: [DataType.U8Array],
      paramsValue: [program],
    });
    load({
      library: 'pcap',
      funcName: 'pcap_close',
      retType: DataType.Void,
      paramsType: [DataType.External],
      paramsValue: [pcapT],
    });
  };
  if (status !== 0) {
    free();
    return null;
  }
  const verdicts = frames.map((f, i) => {
    // struct pcap_pkthdr: struct timeval (16 bytes), caplen, len.
    const hdr = Buffer.alloc(24);
    hdr.writeUInt32LE(f.length, 16);
    hdr.writeUInt32LE(origLen[i] as number, 20);
    const r = load({
      library: 'pcap',
      funcName: 'pcap_offline_filter',
      retType: DataType.I32,
      paramsType: [DataType.U8Array, DataType.U8Array, DataType.U8Array],
      // An empty Buffer may be passed as a null pointer: libpcap must not see one.
      paramsValue: [program, hdr, f.length > 0 ? Buffer.from(f) : Buffer.alloc(1)],
    });
    return r !== 0;
  });
  free();
  return verdicts;
}

const v4 = handshake({ backendPort: 80 });
const v4tls = handshake({ lb: '203.0.113.9', lbPort: 41000, backendPort: 443 });
const v6 = handshake({ lb: '2001:db8::1', backend: '2001:db8::2', backendPort: 443 });
const ips = [...v4, ...v4tls, ...v6, ...v6.map(withDestinationOptions)];
// The IPv6 packet with an 8-byte destination options header (PadN only) before TCP: what
// "ip6 protochain" walks with a backward jump.
function withDestinationOptions(ip: Uint8Array): Uint8Array {
  const out = new Uint8Array(ip.length + 8);
  out.set(ip.subarray(0, 40));
  out.set([ip[6] as number, 0, 1, 4, 0, 0, 0, 0], 40);
  out.set(ip.subarray(40), 48);
  out[6] = 60;
  new DataView(out.buffer).setUint16(4, ip.length - 40 + 8);
  return out;
}

const nullLink = (ip: Uint8Array) => {
  // BSD loopback: the address family in the capturing host's (here little-endian) byte order.
  const family = (ip[0] as number) >> 4 === 6 ? 10 : 2;
  return Uint8Array.from([family, 0, 0, 0, ...ip]);
};
const arp = Uint8Array.from([...new Array(12).fill(2), 0x08, 0x06, ...new Array(28).fill(0)]);

const LINKS: [string, number, Uint8Array[]][] = [
  ['Ethernet', LINKTYPE.ETHERNET, [...ips.map((p) => ether(p)), arp]],
  ['VLAN', LINKTYPE.ETHERNET, ips.map((p) => ether(p, [[0x8100, 5]]))],
  [
    'Q-in-Q',
    LINKTYPE.ETHERNET,
    ips.map((p) =>
      ether(p, [
        [0x88a8, 7],
        [0x8100, 5],
      ]),
    ),
  ],
  ['SLL', LINKTYPE.LINUX_SLL, ips.map(sll)],
  ['SLL2', LINKTYPE.LINUX_SLL2, ips.map(sll2)],
  ['raw IP', LINKTYPE.RAW, ips],
  ['BSD loopback', LINKTYPE.NULL, ips.map(nullLink)],
];

const EXPRESSIONS = [
  'tcp port 80',
  'host 198.51.100.1',
  'src net 203.0.113.0/24 and dst port 443',
  'ip6 and not port 80',
  'tcp[tcpflags] & tcp-syn != 0',
  'tcp[tcpflags] == tcp-syn|tcp-ack',
  'tcp[((tcp[12] & 0xf0) >> 2):4] = 0x47455420', // "GET " at the payload: indirect loads
  'ip[2:2] / 4 > 15 and ip[2:2] % 7 = 3',
  'ip[2:2] / (ip[0] & 0xf) > 10 or ip[2:2] % (ip[0] & 0xf) = 0',
  'ip[8] * 3 > 100 and ip[0] - 1 = 0x44 and ip[0] + 1 = 0x46',
  'ip[0] ^ 0xff = 0xba and ip[0] | 1 = 0x45 and ip[0] << 2 = 0x114 and ip[0] >> 4 = 4',
  'ip[2:2] << (ip[9] & 3) > 100 and ip[2:2] >> (ip[9] & 3) > 10',
  'ip[2:2] % 10 > 4',
  'ip[2:2] / 7 = 6',
  '(ip[0] + ip[1]) * (ip[2] + ip[3]) > 1000', // intermediates in scratch memory
  // Shifts by 32 or more give 0 in BPF; JavaScript's shifts would count modulo 32.
  'ip[2:2] >> (ip[9] + 26) = 0',
  'ip[2:2] << (ip[9] + 27) = 0',
  '-ip[0] = 0xffffffbb',
  'len > 100',
  'greater 80 and less 120',
  'vlan and tcp',
  'vlan 5 and host 198.51.100.2',
  'ip6 protochain 6',
  'inbound',
  'not tcp',
];

test('the interpreter agrees with libpcap on every link type, expression and cut', () => {
  let compared = 0;
  for (const [name, linktype, frames] of LINKS) {
    // Each frame whole, and cut by snaplens that end inside each header.
    const cuts = frames.flatMap((f) => [f, ...[1, 14, 20, 30, 38, 54, 70].map((n) => f.subarray(0, n))]);
    const wire = frames.flatMap((f) => new Array(8).fill(f.length) as number[]);
    for (const expression of EXPRESSIONS) {
      const want = libpcapMatches(expression, linktype, cuts, wire);
      if (want === null) {
        assert.throws(() => compileBpf(ffi, expression, linktype), undefined, `${name}: ${expression}`);
        continue;
      }
      const p = compileBpf(ffi, expression, linktype);
      const got = cuts.map((f, i) => runBpf(p, f, 0, f.length, wire[i] as number) !== 0);
      assert.equal(got, want, `${name}: ${expression}`);
      compared += cuts.length;
    }
  }
  // Every link type took most expressions: the comparison is not vacuous.
  assert.ok(compared > 5000, `${compared} frames compared`);
});

test('a frame inside a larger buffer is read from its start', () => {
  const frame = ether(v4[0] as Uint8Array);
  const buf = new Uint8Array(frame.length + 37).fill(0xee);
  buf.set(frame, 37);
  const p = compileBpf(ffi, 'tcp port 80 and host 198.51.100.1', LINKTYPE.ETHERNET);
  assert.is(runBpf(p, buf, 37, frame.length, frame.length) !== 0, true);
  assert.is(runBpf(p, buf, 36, frame.length, frame.length), 0);
});

// A capture of several connections: IPv4 to 80 and 443 from two LBs, IPv6 to 443, and noise.
function mixed(): string {
  const frames: Uint8Array[] = [];
  for (let i = 0; i < 6; i++) {
    const lb = i % 2 === 0 ? '198.51.100.1' : '203.0.113.9';
    frames.push(
      ...handshake({ lb, lbPort: 40000 + i, backendPort: i % 3 === 0 ? 443 : 80 }).map((p) => ether(p)),
    );
    frames.push(
      ...handshake({ lb: '2001:db8::1', backend: '2001:db8::2', lbPort: 50000 + i, backendPort: 443 }).map(
        (p) => ether(p),
      ),
    );
  }
  frames.splice(3, 0, arp);
  // A stray ACK of no tracked connection.
  const stray = buildSegment({
    src: textToAddress('198.51.100.7'),
    dst: textToAddress('198.51.100.2'),
    srcPort: 1234,
    dstPort: 443,
    flags: ACK,
  });
  frames.splice(9, 0, ether(stray));
  // An unanswered SYN to 80.
  const syn = buildSegment({
    src: textToAddress('198.51.100.1'),
    dst: textToAddress('198.51.100.2'),
    srcPort: 9,
    dstPort: 80,
    flags: SYN,
  });
  frames.push(ether(syn));
  return tempFile(pcap(frames, { linktype: LINKTYPE.ETHERNET }));
}

function tsharkFrames(file: string, display: string): number[] {
  const r = spawnSync('tshark', ['-n', '-r', file, '-Y', display, '-T', 'fields', '-e', 'frame.number'], {
    encoding: 'utf8',
  });
  if (r.error) throw new Error(`tshark did not run (${r.error.message}): install it with test/deps.sh`);
  if (r.status !== 0) throw new Error(`tshark exited ${r.status}: ${r.stderr}`);
  return r.stdout.split('\n').filter(Boolean).map(Number);
}

const CASES: [string, string][] = [
  ['tcp port 443', 'tcp.port == 443'],
  ['host 203.0.113.9', 'ip.addr == 203.0.113.9'],
  ['ip6 and dst port 443', 'ipv6 && tcp.dstport == 443'],
  ['src host 198.51.100.1 or src host 2001:db8::2', 'ip.src == 198.51.100.1 || ipv6.src == 2001:db8::2'],
  ['not tcp', '!tcp'],
];

test('toa inspect --filter sees the packets tshark -Y selects, numbered as in the file', () => {
  const file = mixed();
  for (const [bpf, display] of CASES) {
    const frames = tsharkFrames(file, display);
    const r = cli(['inspect', '-r', file, '--json', '--summary', '--filter', bpf]);
    assert.is(r.status, 0, r.stderr);
    const summary: Json = JSON.parse(r.stdout.trim().split('\n').pop() as string);
    assert.is(summary.packets, frames.length, `${bpf}: packets`);
    const lines = cli(['inspect', '-r', file, '--json', '--filter', bpf]).stdout.trim().split('\n');
    const conns: Json[] = lines.filter(Boolean).map((l) => JSON.parse(l));
    // A connection's frame is its SYN's number in the file: one tshark selected too.
    for (const c of conns) assert.ok(frames.includes(c.frame), `${bpf}: frame ${c.frame}`);
  }
});

test('--filter with -w writes only the matching packets of reported connections', async () => {
  const file = mixed();
  const out = join(DIR, 'filtered.pcap');
  const r = cli(['inspect', '-r', file, '--summary', '--filter', 'tcp port 443 and ip', '-w', out]);
  assert.is(r.status, 0, r.stderr);
  const written: string[] = [];
  await readCapture(out, (rec) => written.push(Buffer.from(recordBytes(rec)).toString('hex')));
  // tshark's selection, less the stray ACK of no connection (never written).
  const want = tsharkFrames(file, 'ip && tcp.port == 443 && !(tcp.port == 1234)');
  assert.is(written.length, want.length);
  const again = tsharkFrames(out, 'ip && tcp.port == 443');
  assert.is(again.length, written.length, 'every written packet matches');
});

test('a pcapng of two link types: the expression is compiled for each', async () => {
  const file = pcapng([
    {
      ifaces: [{ linktype: LINKTYPE.ETHERNET }, { linktype: LINKTYPE.RAW }],
      packets: [
        ...v4.map((data) => ({ iface: 0, data: ether(data) })),
        ...v4tls.map((data) => ({ iface: 1, data })),
        ...v6.map((data) => ({ iface: 1, data })),
      ],
    },
  ]);
  const r = await inspect(file, { filter: 'tcp port 443', summary: true }, 'pcapng');
  assert.is(r.totals.packets, v4tls.length + v6.length);
  assert.equal(
    r.objects.filter((o: Json) => o.type === 'connection'),
    [],
  );
  const all = await inspect(file, { filter: 'ip' }, 'pcapng');
  assert.equal(
    all.conns.map((c: Json) => [c.frame, c.backendPort]),
    [
      [1, 80],
      [5, 443],
    ],
  );
});

test('a bad --filter is one line and exit 2, before any packet is read', () => {
  const file = mixed();
  for (const [bpf, why] of [
    ['tcp prot 80', 'syntax error'],
    ['port 99999', 'port'],
    ['ip broadcast', 'netmask'],
  ] as const) {
    const r = cli(['inspect', '-r', file, '--filter', bpf]);
    assert.is(r.status, 2, bpf);
    assert.is(r.stdout, '', bpf);
    const lines = r.stderr.trim().split('\n');
    assert.is(lines.length, 1, r.stderr);
    assert.match(lines[0] as string, `--filter ${JSON.stringify(bpf)}`);
    assert.match(lines[0] as string, why);
  }
  // Valid, but not for this file's link type: named, exit 2.
  const raw = tempFile(pcap(v4));
  const r = cli(['inspect', '-r', raw, '--filter', 'ether host 02:00:00:00:00:01']);
  assert.is(r.status, 2);
  assert.match(r.stderr, /--filter .* \(compiled for raw IP\)/);
});

test.run();
