// The inspector end to end on generated captures: every TOA format, both families, every link
// layer, snaplen-cut packets, each anomaly, handshake outcomes and bounded memory.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { pcapFile } from '../../src/inspect/pcap-write.js';
import { createTracker, parseCidr, smallestToa } from '../../src/inspect/track.js';
import {
  encodeToa,
  FORMATS,
  type FormatName,
  formatsToMask,
  KIND,
  newSegmentView,
  parseToa,
  type ToaInput,
  viewSegment,
} from '../../src/wire/index.js';
import { ether, handshake, inspect, type Json, pcap, pcapng, sll, sll2 } from './inspect-helpers.js';

const V4 = { lb: '198.51.100.1', backend: '198.51.100.2' };
const V6 = { lb: '2001:db8::1', backend: '2001:db8::2' };

const SAMPLE: Record<FormatName, ToaInput> = {
  '254/8': { format: '254/8', address: '203.0.113.7', port: 8080 },
  '254/20': { format: '254/20', address: '2001:db8:77::7', port: 8080 },
  '253/20': { format: '253/20', address: '2001:db8:77::8', port: 443 },
  '200/8': { format: '200/8', address: '203.0.113.9', port: 1 },
  '252/8': { format: '252/8', address: '203.0.113.10', port: 65535 },
  '253/8': { format: '253/8', address: '203.0.113.11', port: 2 },
  '28/7': { format: '28/7', address: '203.0.113.12' },
  '28/19': { format: '28/19', address: '2001:db8:77::c' },
  '254/16': {
    format: '254/16',
    address: '203.0.113.13',
    port: 3,
    vip: { address: '198.51.100.100', port: 80 },
  },
  '253/hostid': { format: '253/hostid', address: '203.0.113.14' },
  '254/hostid': { format: '254/hostid', address: '2001:db8:77::e' },
};

const ROLES = [['syn'], ['ack'], ['data'], ['ack', 'data']] as const;

for (const f of FORMATS) {
  for (const [fam, addrs] of [
    ['IPv4', V4],
    ['IPv6', V6],
  ] as const) {
    test(`format ${f.name} over ${fam}: decoded as parseToa does, in each carrying segment`, async () => {
      const input = SAMPLE[f.name];
      const packets = ROLES.flatMap((toaIn, i) =>
        handshake({ ...addrs, lbPort: 41000 + i, toa: input, toaIn: [...toaIn] }),
      );
      const { conns, exitCode } = await inspect(pcap(packets), { formats: [f.name], expectToa: [80] });
      const want = parseToa(encodeToa(input), [f.name]);
      assert.is(want.status, 'toa');
      if (want.status !== 'toa') return;
      assert.is(conns.length, ROLES.length);
      for (const [i, c] of conns.entries()) {
        assert.is(c.outcome, 'established');
        assert.equal(c.toaIn, ROLES[i], 'carried in');
        assert.is(c.toa.format, f.name);
        assert.is(c.toa.address, want.toa.address);
        assert.is(c.toa.port, want.toa.port);
        assert.equal(c.toa.vip, want.toa.vip ?? null);
        assert.is(c.validToa, true);
        const nat64 = fam === 'IPv4' && want.toa.family === 6;
        assert.equal(
          c.anomalies.map((a: Json) => [a.kind, a.severity]),
          nat64 ? [['nat64', 'info']] : [],
        );
      }
      assert.is(exitCode, 0);
    });
  }
}

test('a format outside --formats is not decoded: 200/8 under the default set is no TOA', async () => {
  const { conns } = await inspect(pcap(handshake({ ...V4, toa: SAMPLE['200/8'] })));
  assert.is(conns[0].toa, null);
  assert.equal(conns[0].anomalies, []);
});

const TOA = SAMPLE['254/8'];

const LINKS: [string, number, (ip: Uint8Array) => Uint8Array][] = [
  ['Ethernet', 1, (ip) => ether(ip)],
  ['802.1Q VLAN', 1, (ip) => ether(ip, [[0x8100, 42]])],
  [
    '802.1ad + 802.1Q (Q-in-Q)',
    1,
    (ip) =>
      ether(ip, [
        [0x88a8, 100],
        [0x8100, 42],
      ]),
  ],
  ['Linux SLL', 113, sll],
  ['Linux SLL2', 276, sll2],
  ['raw IP (101)', 101, (ip) => ip],
  ['raw IP (12)', 12, (ip) => ip],
  ['raw IP (14)', 14, (ip) => ip],
  ['BSD loopback (0)', 0, (ip) => Uint8Array.from([ip[0] === 0x45 ? 2 : 30, 0, 0, 0, ...ip])],
];

for (const [name, linktype, wrap] of LINKS)
  test(`link layer ${name}: IPv4 and IPv6 connections decoded`, async () => {
    const packets = [
      ...handshake({ ...V4, toa: TOA, toaIn: ['ack'] }),
      ...handshake({ ...V6, toa: SAMPLE['254/20'], toaIn: ['syn'] }),
    ];
    const { conns, totals } = await inspect(pcap(packets.map(wrap), { linktype }));
    assert.equal(
      conns.map((c: Json) => [c.family, c.toa?.address]),
      [
        [4, '203.0.113.7'],
        [6, '2001:db8:77::7'],
      ],
    );
    assert.is(totals.tcp, 8);
  });

test('raw IPv4 (228) and raw IPv6 (229)', async () => {
  const v4 = await inspect(pcap(handshake({ ...V4, toa: TOA }), { linktype: 228 }));
  const v6 = await inspect(pcap(handshake({ ...V6, toa: SAMPLE['254/20'] }), { linktype: 229 }));
  assert.is(v4.conns[0].toa.address, '203.0.113.7');
  assert.is(v6.conns[0].toa.address, '2001:db8:77::7');
});

for (const le of [true, false])
  test(`pcapng (${le ? 'LE' : 'BE'}) with Ethernet, SLL2 and raw interfaces, one connection on each`, async () => {
    const wraps = [ether, sll2, (ip: Uint8Array) => ip];
    const packets = wraps.flatMap((wrap, iface) =>
      handshake({ ...V4, lbPort: 42000 + iface, toa: { ...TOA, port: iface }, toaIn: ['ack'] }).map((ip) => ({
        iface,
        data: wrap(ip),
      })),
    );
    const file = pcapng([{ ifaces: [{ linktype: 1 }, { linktype: 276 }, { linktype: 101 }], packets }], le);
    const { conns } = await inspect(file, {}, 'pcapng');
    assert.equal(
      conns.map((c: Json) => [c.lbPort, c.toa.port]),
      [
        [42000, 0],
        [42001, 1],
        [42002, 2],
      ],
    );
  });

test('snaplen-cut packets are counted as truncated, never decoded: no TOA, no malformed', async () => {
  const [syn, synAck, ack, data] = handshake({ ...V4, toa: TOA, toaIn: ['syn'] }) as Uint8Array[];
  const frames = [syn, synAck, ack, data].map((ip) => ether(ip as Uint8Array));
  const synFrame = frames[0] as Uint8Array;
  // Cut inside the TOA option (Ethernet 14 + IP 20 + TCP 20 + MSS 4 + 3 bytes of the TOA).
  const cut = { data: synFrame.subarray(0, 61), origLen: synFrame.length, ts: 1 };
  const rest = frames.slice(1).map((d, i) => ({ data: d, ts: 2 + i }));
  const { conns, totals, warnings } = await inspect(pcapFile({ linktype: 1, snaplen: 61 }, [cut, ...rest]));
  assert.is(totals.truncated, 1);
  assert.is(conns.length, 0, 'the SYN was not seen whole, so no handshake is claimed');
  assert.match(warnings.join('\n'), /1 packet\(s\) were cut by the snaplen/);

  // Cut inside a VLAN tag, inside the Ethernet header, and an IP header longer than the frame.
  const vlan = ether(syn as Uint8Array, [[0x8100, 1]]);
  const shortIp = (syn as Uint8Array).slice();
  shortIp[3] = (shortIp[3] as number) + 40; // total length past the captured bytes
  const more = await inspect(
    pcapFile({ linktype: 1 }, [
      { data: vlan.subarray(0, 15), origLen: vlan.length },
      { data: frames[1]?.subarray(0, 5) as Uint8Array, origLen: 60 },
      { data: ether(shortIp) },
    ]),
  );
  assert.is(more.totals.truncated, 3);
  assert.is(more.totals.tcp, 0);
});

test('a whole packet in a bigger-snaplen capture keeps its Ethernet padding out of the segment', async () => {
  const packets = handshake({ ...V4, toa: TOA, toaIn: ['ack'] }).map((ip) => {
    const f = ether(ip);
    return f.length < 60 ? Uint8Array.from([...f, ...new Array(60 - f.length).fill(0)]) : f;
  });
  const { conns } = await inspect(pcap(packets, { linktype: 1 }));
  assert.is(conns[0].toa.address, '203.0.113.7');
});

test('non-IP frames and non-TCP packets are counted as other', async () => {
  const arp = Uint8Array.from([...new Array(12).fill(0), 0x08, 0x06, ...new Array(28).fill(0)]);
  const udp = (handshake({ ...V4 })[0] as Uint8Array).slice();
  udp[9] = 17;
  const { totals } = await inspect(pcap([arp, ether(udp)], { linktype: 1 }));
  assert.equal([totals.other, totals.tcp], [2, 0]);
});

const kinds = (c: Json) => c.anomalies.map((a: Json) => `${a.kind}:${a.reason}:${a.segment}`);

test('malformed: the decoder reason, per segment, once per retransmission', async () => {
  const bad = Uint8Array.of(254, 10, 0, 80, 203, 0, 113, 7, 0, 0); // len 10 is no format
  const packets = handshake({ ...V4, toa: bad, toaIn: ['syn', 'data'] });
  const { conns } = await inspect(pcap([packets[0] as Uint8Array, ...packets]), { expectToa: [80] });
  assert.equal(kinds(conns[0]), ['malformed:toa-len:syn', 'malformed:toa-len:data', 'no-toa:no-toa:null']);
  assert.match(conns[0].anomalies[0].detail, /toa-len at option offset 4/);
});

test('retransmitted identical TOA vs a conflicting one', async () => {
  const syn = handshake({ ...V4, toa: TOA, toaIn: ['syn'] });
  const same = await inspect(pcap([syn[0] as Uint8Array, ...syn]));
  assert.is(same.conns[0].retransmits, 1);
  assert.equal(same.conns[0].toaIn, ['syn']);
  assert.equal(same.conns[0].anomalies, []);

  const other = { ...TOA, address: '203.0.113.99' };
  const clash = await inspect(pcap(handshake({ ...V4, toa: TOA, toaIn: ['ack'], toaFor: { data: other } })), {
    expectToa: [80],
  });
  const c = clash.conns[0];
  assert.equal(kinds(c), ['conflict:conflict:data']);
  assert.match(c.anomalies[0].detail, /ack said 203\.0\.113\.7:8080, data says 203\.0\.113\.99:8080/);
  assert.is(c.toa.address, '203.0.113.7', 'the first TOA stays the one reported');
  assert.is(c.validToa, false);
  assert.is(clash.exitCode, 1);
});

test('untrusted: a TOA from outside --trust (IPv4 and IPv6 CIDRs)', async () => {
  const packets = [
    ...handshake({ ...V4, toa: TOA, toaIn: ['ack'] }),
    ...handshake({ ...V6, toa: SAMPLE['254/20'], toaIn: ['ack'] }),
  ];
  const file = pcap(packets);
  const none = await inspect(file, { trust: ['198.51.100.0/24', '2001:db8::/32'] });
  assert.equal(none.conns.map(kinds), [[], []]);
  const v4only = await inspect(file, { trust: ['198.51.100.0/25'], expectToa: [80] });
  assert.equal(v4only.conns.map(kinds), [[], ['untrusted:untrusted:ack']]);
  assert.is(v4only.exitCode, 1);
  const elsewhere = await inspect(file, { trust: ['203.0.113.0/24', '2001:db8:1::/48'] });
  assert.equal(elsewhere.conns.map(kinds), [['untrusted:untrusted:ack'], ['untrusted:untrusted:ack']]);
  assert.match(elsewhere.conns[0].anomalies[0].detail, /outside --trust 203\.0\.113\.0\/24,2001:db8:1::\/48/);
});

test('parseCidr and its errors', () => {
  assert.equal(parseCidr('203.0.113.1').prefix, 32);
  assert.equal(parseCidr('2001:db8::/32').prefix, 32);
  assert.throws(() => parseCidr('203.0.113.0/33'), /prefix must be 0\.\.32/);
  assert.throws(() => parseCidr('example.com/8'), /not an IPv4 or IPv6 address/);
});

test('no-toa: only for established handshakes to a watched port', async () => {
  const packets = [
    ...handshake({ ...V4, lbPort: 1 }), // established, no TOA
    ...handshake({ ...V4, lbPort: 2, until: 'syn' }), // never answered: not the LB's fault
    ...handshake({ ...V4, lbPort: 3, backendPort: 22 }), // not watched
  ];
  const { conns: reported, exitCode, totals } = await inspect(pcap(packets), { expectToa: [80] });
  // The unanswered SYN is reported last, when the capture ends.
  const conns = [...reported].sort((a, b) => a.lbPort - b.lbPort);
  assert.equal(conns.map(kinds), [['no-toa:no-toa:null'], [], []]);
  assert.equal(
    conns.map((c: Json) => c.outcome),
    ['established', 'incomplete', 'established'],
  );
  assert.is(exitCode, 1);
  assert.equal(totals.anomalies, { 'no-toa': 1 });
  const unwatched = await inspect(pcap(packets));
  assert.equal(unwatched.conns.map(kinds), [[], [], []]);
  assert.is(unwatched.exitCode, 0);
});

test('--port: only connections to those ports, each expected to carry a TOA', async () => {
  const packets = [
    ...handshake({ ...V4, lbPort: 1, toa: TOA }),
    ...handshake({ ...V4, lbPort: 2, backendPort: 22 }),
  ];
  const { conns, totals } = await inspect(pcap(packets), { ports: [22] });
  assert.equal(
    conns.map((c: Json) => [c.backendPort, kinds(c)]),
    [[22, ['no-toa:no-toa:null']]],
  );
  assert.is(totals.untracked, 4);
});

test('no-room (space): the option block left no room for the smallest accepted TOA', async () => {
  // 36 bytes of other options in the ACK: 40 - 36 < 8 (32 would leave exactly room).
  const filler = Uint8Array.from([
    KIND.TIMESTAMPS,
    10,
    ...new Array(8).fill(0),
    ...new Array(26).fill(KIND.NOP),
  ]);
  const { conns } = await inspect(pcap(handshake({ ...V4, extra: { ack: filler } })), { expectToa: [80] });
  assert.equal(kinds(conns[0]), ['no-toa:no-toa:null', 'no-room:space:ack']);
  assert.match(conns[0].anomalies[1].detail, /ack has 36 option bytes: no room for a 8-byte TOA/);
  assert.is(smallestToa(formatsToMask(['28/7'])), 8);
  assert.is(smallestToa(formatsToMask(['254/20', '28/19'])), 20);
});

test('no-room (mss): first data filling the MSS, with and without the TOA', async () => {
  const payload = new Uint8Array(100);
  const without = await inspect(pcap(handshake({ ...V4, mss: 104, payload })), { expectToa: [80] });
  assert.equal(kinds(without.conns[0]), ['no-toa:no-toa:null', 'no-room:mss:data']);
  const withToa = await inspect(pcap(handshake({ ...V4, mss: 104, payload, toa: TOA, toaIn: ['data'] })));
  assert.equal(kinds(withToa.conns[0]), ['no-room:mss:data']);
  assert.match(
    withToa.conns[0].anomalies[0].detail,
    /100 bytes \+ 8 option bytes with the TOA exceeds MSS 104/,
  );
  const fits = await inspect(pcap(handshake({ ...V4, mss: 108, payload, toa: TOA, toaIn: ['data'] })));
  assert.equal(kinds(fits.conns[0]), []);
});

test('outcomes: reset, incomplete, established without data (reported at the end)', async () => {
  const packets = [
    ...handshake({ ...V4, lbPort: 1, until: 'rst' }),
    ...handshake({ ...V4, lbPort: 2, until: 'syn' }),
    ...handshake({ ...V4, lbPort: 3, until: 'ack', toa: TOA, toaIn: ['ack'] }),
  ];
  const { conns, totals } = await inspect(pcap(packets), {});
  assert.equal(
    conns.map((c: Json) => [c.lbPort, c.outcome, c.toa?.address ?? null]),
    [
      [1, 'reset', null],
      [2, 'incomplete', null],
      [3, 'established', '203.0.113.7'],
    ],
  );
  assert.equal([totals.reset, totals.incomplete, totals.established], [1, 1, 1]);
});

test('a handshake without data is reported 3 s (capture time) after its ACK, before later traffic', async () => {
  const quiet = handshake({ ...V4, lbPort: 1, until: 'ack', toa: TOA, toaIn: ['ack'] });
  const later = handshake({ ...V4, lbPort: 2, toa: TOA });
  const file = pcapFile({ linktype: 101 }, [
    ...quiet.map((data, i) => ({ data, ts: 100 + i / 100 })),
    ...later.map((data, i) => ({ data, ts: 110 + i / 100 })),
  ]);
  const { conns } = await inspect(file);
  assert.equal(
    conns.map((c: Json) => [c.lbPort, c.outcome, c.toaIn]),
    [
      [1, 'established', ['ack']],
      [2, 'established', ['syn']],
    ],
  );
});

test('a reused 4-tuple with a new ISN is a new connection', async () => {
  const packets = [...handshake({ ...V4, toa: TOA }), ...handshake({ ...V4, isn: 77777 })];
  const { conns } = await inspect(pcap(packets), { expectToa: [80] });
  assert.equal(
    conns.map((c: Json) => [c.id, c.frame, c.toa?.address ?? null]),
    [
      [1, 1, '203.0.113.7'],
      [2, 5, null],
    ],
  );
});

test('bounded memory: idle connections expire, and the table never exceeds its cap', () => {
  const reports: number[] = [];
  const opts = { formats: formatsToMask(['254/8']), trust: null, expect: new Set<number>(), ports: null };
  const t = createTracker({ ...opts, idleTimeout: 10, maxConnections: 100 }, (c) => reports.push(c.id));
  const seg = newSegmentView();
  let peak = 0;
  for (let i = 0; i < 1000; i++) {
    // Each connection sends a SYN and never finishes; time moves one second per connection.
    const pkt = handshake({ ...V4, lbPort: 10000 + i, until: 'syn' })[0] as Uint8Array;
    if (!viewSegment(pkt, 0, seg)) throw new Error('bad segment');
    t.segment(pkt, seg, { ts: 1000 + i, index: i });
    peak = Math.max(peak, t.size());
  }
  assert.ok(peak <= 12, `peak ${peak}`);
  const capped = createTracker({ ...opts, maxConnections: 100 }, () => {});
  for (let i = 0; i < 1000; i++) {
    const pkt = handshake({ ...V4, lbPort: 10000 + i, until: 'syn' })[0] as Uint8Array;
    if (viewSegment(pkt, 0, seg)) capped.segment(pkt, seg, { ts: 1000, index: i });
  }
  assert.is(capped.size(), 100);
  t.flush();
  assert.is(reports.length, 1000, 'every connection is reported exactly once');
  assert.is(new Set(reports).size, 1000);
});

test('closed connections are dropped after the closed timeout; their late packets are untracked', async () => {
  const packets = handshake({ ...V4, until: 'rst' });
  const late = handshake({ ...V4 })[2] as Uint8Array;
  const file = pcapFile({ linktype: 101 }, [
    { data: packets[0] as Uint8Array, ts: 1 },
    { data: packets[1] as Uint8Array, ts: 1.1 },
    { data: late, ts: 30 },
  ]);
  const { conns, totals } = await inspect(file);
  assert.is(conns.length, 1);
  assert.is(totals.untracked, 1);
});

test.run();
