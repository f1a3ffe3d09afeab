// The lab load balancer's core without devices: packets built with src/wire go in, and the
// rewritten packets' bytes, checksums, options and the NAT table's state are checked.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createLb, type Lb, type LbConfig, type LbEvent, type Out } from '../../src/lab/lb.js';
import { portPool } from '../../src/lab/lb-nat.js';
import {
  ACK,
  addressToText,
  buildSegment,
  encodeOptions,
  FIN,
  findOption,
  KIND,
  mssOption,
  type ParsedSegment,
  PSH,
  parseIp,
  parseSegment,
  parseToa,
  RST,
  SYN,
  textToAddress,
} from '../../src/wire/index.js';

const VIP4 = '203.0.113.1';
const VIP6 = '2001:db8:c::1';
const LOCAL4 = '198.51.100.1';
const LOCAL6 = '2001:db8:b::1';
const B = ['198.51.100.10', '198.51.100.11', '2001:db8:b::10'];
const CONFIG: LbConfig = {
  vips: [
    { address: VIP4, port: 80 },
    { address: VIP6, port: 80 },
  ],
  backends: [
    { address: B[0] as string, port: 8080 },
    { address: B[1] as string, port: 8080 },
    { address: B[2] as string, port: 8080 },
  ],
  locals: [LOCAL4, LOCAL6],
  ports: [20000, 20009],
};

const a = textToAddress;

interface Seg {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  flags: number;
  seq: number;
  ack?: number;
  options?: Uint8Array;
  payload?: Uint8Array | string;
}

function seg(s: Seg): Uint8Array {
  const payload = typeof s.payload === 'string' ? new TextEncoder().encode(s.payload) : s.payload;
  return buildSegment({
    src: a(s.src),
    dst: a(s.dst),
    srcPort: s.sport,
    dstPort: s.dport,
    seq: s.seq,
    ack: s.ack ?? 0,
    flags: s.flags,
    window: 1000,
    ...(s.options ? { options: s.options } : {}),
    ...(payload ? { payload } : {}),
  });
}

function one(outs: Out[]): { out: Out; p: ParsedSegment } {
  assert.is(outs.length, 1, 'exactly one packet out');
  const out = outs[0] as Out;
  const p = parseSegment(out.packet);
  assert.ok(p, 'a TCP packet');
  assert.ok(p.checksumOk, 'IP and TCP checksums valid');
  return { out, p };
}

const CISN = 1000;
const SISN = 5000;

/** A handshake from client:cport to the VIP; returns what left towards the backend at each step. */
function handshake(lb: Lb, client: string, cport: number, vip = client.includes(':') ? VIP6 : VIP4) {
  const syn = one(
    lb.fromClient(
      seg({
        src: client,
        dst: vip,
        sport: cport,
        dport: 80,
        flags: SYN,
        seq: CISN,
        options: mssOption(1460),
      }),
      0,
    ),
  );
  const backend = addressToText(syn.p.dst);
  const local = addressToText(syn.p.src);
  const lport = syn.p.srcPort;
  const synAck = one(
    lb.fromBackend(
      seg({
        src: backend,
        dst: local,
        sport: 8080,
        dport: lport,
        flags: SYN | ACK,
        seq: SISN,
        ack: CISN + 1,
        options: mssOption(1460),
      }),
      1,
    ),
  );
  return { syn, synAck, backend, local, lport };
}

test('SYN: client -> VIP becomes local:port -> backend, options and payload as they were', () => {
  const lb = createLb(CONFIG);
  const { syn, backend, local } = handshake(lb, '203.0.113.10', 40000);
  assert.is(syn.out.to, 'backend');
  assert.is(local, LOCAL4);
  assert.is(backend, B[0]);
  assert.is(syn.p.dstPort, 8080);
  assert.is(syn.p.srcPort, 20000);
  assert.is(syn.p.seq, CISN);
  assert.equal([...syn.p.options], [...mssOption(1460)], 'the SYN MSS is left alone');
});

test('SYN-ACK: backend -> local becomes VIP -> client, MSS lowered by the TOA size', () => {
  const lb = createLb(CONFIG);
  const { synAck } = handshake(lb, '203.0.113.10', 40000);
  assert.is(synAck.out.to, 'client');
  assert.is(addressToText(synAck.p.src), VIP4);
  assert.is(synAck.p.srcPort, 80);
  assert.is(addressToText(synAck.p.dst), '203.0.113.10');
  assert.is(synAck.p.dstPort, 40000);
  const mss = findOption(synAck.p.options, KIND.MSS) as Uint8Array;
  assert.is(((mss[0] as number) << 8) | (mss[1] as number), 1460 - 8);
  assert.is(lb.stats.mssLowered, 1);
});

test('the handshake-completing ACK carries the client as TOA 254/8; doff, lengths and checksums fixed', () => {
  const lb = createLb(CONFIG);
  const { backend, local, lport } = handshake(lb, '203.0.113.10', 40000);
  const ts = encodeOptions([
    { kind: KIND.NOP },
    { kind: KIND.NOP },
    { kind: KIND.TIMESTAMPS, data: new Uint8Array(8) },
  ]);
  const { p, out } = one(
    lb.fromClient(
      seg({
        src: '203.0.113.10',
        dst: VIP4,
        sport: 40000,
        dport: 80,
        flags: ACK,
        seq: CISN + 1,
        ack: SISN + 1,
        options: ts,
      }),
      2,
    ),
  );
  assert.is(addressToText(p.src), local);
  assert.is(addressToText(p.dst), backend);
  assert.is(p.dstPort, 8080);
  assert.is(p.srcPort, lport);
  assert.is(p.dataOffset, (20 + 8 + 12) / 4);
  assert.is(out.packet.length, 20 + 20 + 8 + 12);
  assert.is(parseIp(out.packet)?.headerChecksumOk, true);
  const r = parseToa(p.options);
  assert.equal(r.status === 'toa' && [r.toa.format, r.toa.address, r.toa.port, r.toa.offset], [
    '254/8',
    '203.0.113.10',
    40000,
    0,
  ]);
  assert.equal([...p.options.subarray(8)], [...ts], 'the client options follow, unchanged');
  assert.is(lb.entries()[0]?.state, 'established');
});

test('the first data segment carries the TOA too while the backend has sent nothing; later ones do not', () => {
  const lb = createLb(CONFIG);
  handshake(lb, '203.0.113.10', 40000);
  const c = { src: '203.0.113.10', dst: VIP4, sport: 40000, dport: 80 };
  one(lb.fromClient(seg({ ...c, flags: ACK, seq: CISN + 1, ack: SISN + 1 }), 2));
  const first = one(
    lb.fromClient(seg({ ...c, flags: ACK | PSH, seq: CISN + 1, ack: SISN + 1, payload: 'GET /' }), 3),
  );
  assert.is(parseToa(first.p.options).status, 'toa');
  assert.is(new TextDecoder().decode(first.p.payload), 'GET /');
  const second = one(
    lb.fromClient(seg({ ...c, flags: ACK | PSH, seq: CISN + 6, ack: SISN + 1, payload: 'x' }), 4),
  );
  assert.is(second.p.options.length, 0);
  assert.is(lb.stats.toaInserted, 2);
});

test('a data segment after backend data (server speaks first) carries no TOA', () => {
  const lb = createLb(CONFIG);
  handshake(lb, '203.0.113.10', 40000);
  const c = { src: '203.0.113.10', dst: VIP4, sport: 40000, dport: 80 };
  const data = one(
    lb.fromClient(seg({ ...c, flags: ACK | PSH, seq: CISN + 1, ack: SISN + 21, payload: 'hi' }), 3),
  );
  assert.is(data.p.options.length, 0);
});

test('no room: a bare ACK with only the TOA goes first, then the segment unchanged', () => {
  const lb = createLb(CONFIG);
  handshake(lb, '203.0.113.10', 40000);
  // 36 option bytes: 8 more do not fit the 40 a TCP header can hold.
  const big = encodeOptions([{ kind: 253, data: new Uint8Array(34) }]);
  const outs = lb.fromClient(
    seg({
      src: '203.0.113.10',
      dst: VIP4,
      sport: 40000,
      dport: 80,
      flags: ACK | PSH,
      seq: CISN + 1,
      ack: SISN + 1,
      options: big,
      payload: 'abc',
    }),
    2,
  );
  assert.is(outs.length, 2);
  const [bare, original] = outs.map((o) => parseSegment(o.packet) as ParsedSegment);
  assert.ok(bare?.checksumOk && original?.checksumOk);
  assert.is(bare?.flags, ACK);
  assert.is(bare?.payload.length, 0);
  assert.is(bare?.seq, CISN + 1);
  assert.is(bare?.ack, SISN + 1);
  const r = parseToa(bare?.options ?? new Uint8Array(0));
  assert.is(r.status === 'toa' && r.toa.address, '203.0.113.10');
  assert.equal([...(original?.options ?? [])], [...big]);
  assert.is(new TextDecoder().decode(original?.payload), 'abc');
  assert.is(lb.stats.toaBareAck, 1);
});

test('IPv6: 254/20 TOA, MSS lowered by 20, the IPv6 backend and local address', () => {
  const lb = createLb(CONFIG);
  const client = '2001:db8:c::10';
  const { backend, local, synAck } = handshake(lb, client, 40000);
  assert.is(backend, B[2]);
  assert.is(local, LOCAL6);
  const mss = findOption(synAck.p.options, KIND.MSS) as Uint8Array;
  assert.is(((mss[0] as number) << 8) | (mss[1] as number), 1440);
  const { p, out } = one(
    lb.fromClient(
      seg({ src: client, dst: VIP6, sport: 40000, dport: 80, flags: ACK, seq: CISN + 1, ack: SISN + 1 }),
      2,
    ),
  );
  const r = parseToa(p.options);
  assert.equal(r.status === 'toa' && [r.toa.format, r.toa.address, r.toa.port], ['254/20', client, 40000]);
  assert.is(out.packet.length, 40 + 20 + 20);
  assert.is(new DataView(out.packet.buffer).getUint16(4), 40, 'IPv6 payload length');
});

test('data both ways: sequence numbers and payload pass untouched, return traffic is mapped back', () => {
  const lb = createLb(CONFIG);
  const { backend, local, lport } = handshake(lb, '203.0.113.10', 40000);
  const body = new Uint8Array(1400).map((_, i) => i * 7);
  const back = one(
    lb.fromBackend(
      seg({
        src: backend,
        dst: local,
        sport: 8080,
        dport: lport,
        flags: ACK | PSH,
        seq: SISN + 1,
        ack: CISN + 10,
        payload: body,
      }),
      5,
    ),
  );
  assert.is(back.out.to, 'client');
  assert.equal([...back.p.payload], [...body]);
  assert.is(back.p.seq, SISN + 1);
  assert.is(back.p.ack, CISN + 10);
  assert.is(addressToText(back.p.src), VIP4);
});

test('round-robin over the backends of the family; ports from the pool', () => {
  const lb = createLb(CONFIG);
  const seen = [40000, 40001, 40002].map((p) => handshake(lb, '203.0.113.10', p));
  assert.equal(
    seen.map((s) => s.backend),
    [B[0], B[1], B[0]],
  );
  assert.equal(
    seen.map((s) => s.lport),
    [20000, 20001, 20002],
  );
});

test('FIN both ways, then expiry after the closed timeout frees the port', () => {
  const events: LbEvent[] = [];
  const lb = createLb({ ...CONFIG, timeouts: { closedMs: 100 }, onEvent: (e) => events.push(e) });
  const { backend, local, lport } = handshake(lb, '203.0.113.10', 40000);
  const c = { src: '203.0.113.10', dst: VIP4, sport: 40000, dport: 80 };
  lb.fromClient(seg({ ...c, flags: ACK | FIN, seq: CISN + 1, ack: SISN + 1 }), 10);
  assert.is(lb.entries()[0]?.state, 'closing');
  lb.fromBackend(
    seg({
      src: backend,
      dst: local,
      sport: 8080,
      dport: lport,
      flags: ACK | FIN,
      seq: SISN + 1,
      ack: CISN + 2,
    }),
    11,
  );
  assert.is(lb.entries()[0]?.state, 'closed');
  assert.is(lb.expire(50), 0);
  assert.is(lb.expire(111), 1);
  assert.is(lb.entries().length, 0);
  assert.equal(
    events.map((e) => (e.kind === 'close' ? `close:${e.reason}` : e.kind)),
    ['open', 'close:fin'],
  );
  assert.is(handshake(lb, '203.0.113.10', 40001).lport, 20001, 'the pool hands ports out in turn');
});

test('RST closes; idle entries expire; a new SYN on the same client port replaces the old entry', () => {
  const events: LbEvent[] = [];
  const lb = createLb({ ...CONFIG, timeouts: { idleMs: 1000, synMs: 500 }, onEvent: (e) => events.push(e) });
  handshake(lb, '203.0.113.10', 40000);
  lb.fromClient(
    seg({ src: '203.0.113.10', dst: VIP4, sport: 40000, dport: 80, flags: RST, seq: CISN + 1 }),
    2,
  );
  assert.is(lb.entries()[0]?.state, 'closed');
  const other = createLb({
    ...CONFIG,
    timeouts: { idleMs: 1000, synMs: 500 },
    onEvent: (e) => events.push(e),
  });
  other.fromClient(seg({ src: '203.0.113.11', dst: VIP4, sport: 1, dport: 80, flags: SYN, seq: 1 }), 0);
  assert.is(other.expire(499), 0);
  assert.is(other.expire(500), 1, 'an unanswered SYN expires after synMs');
  other.fromClient(seg({ src: '203.0.113.11', dst: VIP4, sport: 2, dport: 80, flags: SYN, seq: 1 }), 0);
  other.fromClient(seg({ src: '203.0.113.11', dst: VIP4, sport: 2, dport: 80, flags: SYN, seq: 99 }), 1);
  assert.is(other.entries().length, 1);
  assert.is(other.entries()[0]?.clientIsn, 99);
  assert.ok(events.some((e) => e.kind === 'close' && e.reason === 'replaced'));
});

test('drops: not a VIP, unknown connection, bad checksum, not TCP; none reach a backend', () => {
  const lb = createLb(CONFIG);
  assert.equal(
    lb.fromClient(seg({ src: '203.0.113.10', dst: VIP4, sport: 1, dport: 81, flags: SYN, seq: 1 })),
    [],
  );
  assert.equal(
    lb.fromClient(seg({ src: '203.0.113.10', dst: VIP4, sport: 1, dport: 80, flags: ACK, seq: 1 })),
    [],
  );
  const bad = seg({ src: '203.0.113.10', dst: VIP4, sport: 1, dport: 80, flags: SYN, seq: 1, payload: 'x' });
  bad[bad.length - 1] = (bad[bad.length - 1] as number) ^ 1;
  assert.equal(lb.fromClient(bad), []);
  assert.equal(lb.fromClient(new Uint8Array(10)), []);
  assert.equal(
    lb.fromBackend(seg({ src: B[0] as string, dst: LOCAL4, sport: 8080, dport: 20000, flags: ACK, seq: 1 })),
    [],
  );
  const d = lb.stats.dropped;
  assert.equal([d['not-vip'], d['no-connection'], d.checksum, d['not-tcp']], [1, 2, 1, 1]);
});

test('other formats: 200/8 for IPv4, 28/19 (padded to 20) for IPv6', () => {
  const lb = createLb({ ...CONFIG, format4: '200/8', format6: '28/19' });
  for (const [client, vip, format, port] of [
    ['203.0.113.10', VIP4, '200/8', 40000],
    ['2001:db8:c::10', VIP6, '28/19', null],
  ] as const) {
    handshake(lb, client, 40000);
    const { p } = one(
      lb.fromClient(
        seg({ src: client, dst: vip, sport: 40000, dport: 80, flags: ACK, seq: CISN + 1, ack: SISN + 1 }),
      ),
    );
    const r = parseToa(p.options, ['200/8', '28/19']);
    assert.equal(r.status === 'toa' && [r.toa.format, r.toa.address, r.toa.port], [format, client, port]);
    assert.is(p.options.length % 4, 0);
  }
});

test('bad configuration: clear errors naming the fix', () => {
  assert.throws(
    () => createLb({ ...CONFIG, vips: [{ address: '203.0.113', port: 80 }] }),
    /VIP .* is not an IPv4/,
  );
  assert.throws(() => createLb({ ...CONFIG, locals: [LOCAL4] }), /no local IPv6 address.*--local/);
  assert.throws(
    () => createLb({ ...CONFIG, format4: '254/20' }),
    /--toa-format 254\/20 cannot carry an IPv4 client/,
  );
  assert.throws(() => createLb({ ...CONFIG, vips: [] }), /--vip/);
  assert.throws(() => portPool(10, 5), /LOW <= HIGH/);
});

test('the port pool runs out, then refills as entries go', () => {
  const lb = createLb({ ...CONFIG, timeouts: { synMs: 10 } });
  for (let p = 1; p <= 10; p++)
    lb.fromClient(seg({ src: '203.0.113.10', dst: VIP4, sport: p, dport: 80, flags: SYN, seq: 1 }), 0);
  assert.equal(
    lb.fromClient(seg({ src: '203.0.113.10', dst: VIP4, sport: 11, dport: 80, flags: SYN, seq: 1 }), 0),
    [],
  );
  assert.is(lb.stats.dropped['no-port'], 1);
  lb.expire(10);
  assert.is(
    lb.fromClient(seg({ src: '203.0.113.10', dst: VIP4, sport: 11, dport: 80, flags: SYN, seq: 1 }), 11)
      .length,
    1,
  );
});

test.run();
