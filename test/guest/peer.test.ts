// The lab peer against a real kernel socket: a Node server inside a fresh network namespace,
// the peer on a TUN moved into it. Needs root, /dev/net/tun and `ip netns`. No TOA module here:
// the server must see the peer's own source address.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  type Connection,
  type ConnectOptions,
  connect,
  createNetns,
  deleteNetns,
  moveLink,
  openTun,
  recvBytes,
  type Server,
  sendSegment,
  startServer,
  type Tun,
} from '../../src/lab/index.js';
import {
  ACK,
  FIN,
  flagText,
  mssOption,
  parseSegment,
  RST,
  SYN,
  textToAddress,
} from '../../src/wire/index.js';

const V4 = { peer: '198.51.100.2', server: '198.51.100.1', far: '203.0.113.7' };
const V6 = { peer: '2001:db8:1::2', server: '2001:db8:1::1', far: '2001:db8:2::7' };
const PORT = 8080;

let tun: Tun;
let ns: string;
let server: Server;
let nextPort = 40000;

test.before(async () => {
  tun = openTun();
  ns = await createNetns();
  await moveLink(tun.name, ns, {
    addresses: ['198.51.100.1/24', '2001:db8:1::1/64'],
    routes: ['203.0.113.0/24', '2001:db8:2::/64'],
  });
  server = await startServer({
    netns: ns,
    listen: [
      { host: '0.0.0.0', port: PORT },
      { host: '::', port: PORT },
    ],
    echo: true,
  });
});

test.after(async () => {
  await server?.stop();
  await tun?.close();
  if (ns) await deleteNetns(ns);
});

function open(fam: typeof V4, extra: Partial<ConnectOptions> = {}, from = fam.peer): Promise<Connection> {
  return connect({
    tun,
    src: { address: from, port: nextPort++ },
    dst: { address: fam.server, port: PORT },
    ...extra,
  });
}

const connectionOf = (c: Connection) =>
  server.waitFor((e) => e.ev === 'connection' && e.remotePort === c.src.port);

const text = (b: Uint8Array) => Buffer.from(b).toString();
const trace = (c: Connection) =>
  c.log
    .map((e) => {
      const s = e.segment;
      return `${e.at}ms ${e.dir}${e.lost ? '(lost)' : ''} ${flagText(s.flags)} seq=${s.seq} ack=${s.ack} len=${s.payload.length}`;
    })
    .join('\n');

// A TOA-shaped block: kind 254, len 8, port, IPv4 (the de-facto format).
const toa4 = Uint8Array.of(254, 8, 0x1f, 0x90, 192, 0, 2, 99);
// NOP, NOP, then kind 254, len 20, port, IPv6 (2001:db8::63), then NOP, NOP: 24 bytes.
const toa6 = Uint8Array.of(
  1,
  1,
  254,
  20,
  0x1f,
  0x90,
  0x20,
  0x01,
  0x0d,
  0xb8,
  ...new Array(11).fill(0),
  0x63,
  1,
  1,
);

const outSegments = (c: Connection) => c.log.filter((e) => e.dir === 'out').map((e) => e.segment);

for (const [name, fam] of [
  ['IPv4', V4],
  ['IPv6', V6],
] as const) {
  test(`${name}: handshake, data both ways, FIN; the server sees the peer's address`, async () => {
    const c = await open(fam);
    assert.is(c.state, 'established');
    const seen = await connectionOf(c);
    assert.is(seen.remoteAddress, fam.peer);
    assert.is(seen.remotePort, c.src.port);
    assert.is(seen.remoteFamily, name);

    await c.send('ping');
    assert.is(text(await recvBytes(c, 4)), 'ping');
    server.write(seen.id as number, 'from the server');
    assert.is(text(await recvBytes(c, 15)), 'from the server');

    await c.close();
    await server.waitFor((e) => e.ev === 'end' && e.id === seen.id);
    await server.waitFor((e) => e.ev === 'close' && e.id === seen.id);
    assert.ok(['time-wait', 'closed'].includes(c.state));
  });

  test(`${name}: a source beyond the link's subnet (routed to the TUN) is what the server sees`, async () => {
    const c = await open(fam, {}, fam.far);
    assert.is((await connectionOf(c)).remoteAddress, fam.far);
    await c.close();
  });

  test(`${name}: server closes first; recv ends with an empty chunk`, async () => {
    const c = await open(fam);
    const seen = await connectionOf(c);
    server.write(seen.id as number, 'bye');
    server.end(seen.id as number);
    const got: string[] = [];
    for await (const chunk of c) got.push(text(chunk));
    assert.is(got.join(''), 'bye');
    assert.is(c.state, 'close-wait');
    await c.close();
    assert.is(c.state, 'closed');
  });
}

test('options in the SYN are placed exactly and the handshake completes', async () => {
  const synOptions = Uint8Array.of(...mssOption(1400), ...toa4);
  const c = await open(V4, { synOptions });
  const syn = outSegments(c)[0];
  assert.ok(syn && syn.flags === SYN);
  assert.equal(Array.from(syn.options), Array.from(synOptions));
  assert.is(syn.dataOffset, 8);
  await connectionOf(c);
  await c.send('x');
  assert.is(text(await recvBytes(c, 1)), 'x');
  await c.close();
});

test('options in the bare ACK: that ACK alone completes the handshake', async () => {
  const c = await open(V4, { ackOptions: toa4 });
  const ack = outSegments(c)[1];
  assert.ok(ack && ack.flags === ACK && ack.payload.length === 0);
  assert.equal(Array.from(ack.options), Array.from(toa4));
  assert.is(ack.dataOffset, 7);
  await connectionOf(c); // accepted before any data was sent
  await c.close();
});

for (const [name, fam, block] of [
  ['IPv4', V4, toa4],
  ['IPv6', V6, toa6],
] as const) {
  test(`${name} dropAck: the first data segment completes the handshake and carries the options`, async () => {
    const c = await open(fam, { dropAck: true, dataOptions: block });
    await c.send('first');
    const out = outSegments(c);
    assert.is(
      out.findIndex((s) => s.payload.length > 0),
      1,
      'SYN then data, no bare ACK between',
    );
    const first = out[1];
    assert.ok(first && (first.flags & ACK) !== 0);
    assert.equal(Array.from(first.options), Array.from(block));
    assert.is(first.dataOffset, 5 + block.length / 4);
    assert.is(text(first.payload), 'first');
    assert.is((await connectionOf(c)).remoteAddress, fam.peer);
    assert.is(text(await recvBytes(c, 5)), 'first');
    await c.send('second');
    assert.is(outSegments(c).at(-1)?.options.length, 0, 'only the first data segment has options');
    assert.is(text(await recvBytes(c, 6)), 'second');
    await c.close();
  });
}

test('dropAck with FIN on the first data segment (data, FIN and options in one segment)', async () => {
  const c = await open(V4, { dropAck: true, dataOptions: toa4 });
  await c.send('only', { fin: true });
  const first = outSegments(c)[1];
  assert.ok(first && (first.flags & FIN) !== 0 && first.options.length === 8);
  const seen = await connectionOf(c);
  await server.waitFor((e) => e.ev === 'end' && e.id === seen.id);
  assert.is(text(await recvBytes(c, 4)), 'only');
  await c.close();
});

test('several concurrent connections on one TUN, both families', async () => {
  const conns = await Promise.all(Array.from({ length: 8 }, (_, i) => open(i % 2 ? V6 : V4)));
  await Promise.all(
    conns.map(async (c, i) => {
      const msg = `conn ${i} `.repeat(50);
      await c.send(msg);
      assert.is(text(await recvBytes(c, msg.length)), msg);
    }),
  );
  await Promise.all(conns.map((c) => c.close()));
  for (const c of conns) assert.is((await connectionOf(c)).remoteAddress, c.src.address);
});

test('bulk transfer beyond the window and the MSS', async () => {
  const c = await open(V6, { dataOptions: toa6 });
  const data = new Uint8Array(200_000).map((_, i) => (i * 7) & 0xff);
  const [echoed] = await Promise.all([recvBytes(c, data.length, 10_000), c.send(data)]);
  assert.ok(Buffer.from(echoed).equals(Buffer.from(data)));
  const sizes = outSegments(c).map((s) => s.payload.length + s.options.length);
  assert.ok(Math.max(...sizes) <= c.serverMss, 'no segment over the server MSS');
  await c.close();
});

test('RST from the kernel: nothing listens -> connect rejects', async () => {
  try {
    await connect({ tun, src: { address: V4.peer, port: nextPort++ }, dst: { address: V4.server, port: 9 } });
    assert.unreachable('connect should fail');
  } catch (e) {
    assert.match((e as Error).message, /connection refused/);
  }
});

test('sendRaw: an arbitrary segment on the connection (RST) reaches the server', async () => {
  const c = await open(V4);
  const seen = await connectionOf(c);
  c.sendRaw({ flags: RST | ACK });
  await server.waitFor((e) => e.ev === 'close' && e.id === seen.id);
  c.abort();
});

test('no answer: the SYN is retransmitted, then connect fails with a timeout, not a hang', async () => {
  const sent: number[] = [];
  try {
    await connect({
      tun,
      src: { address: V4.peer, port: nextPort++ },
      dst: { address: '198.51.100.77', port: PORT }, // routed to the TUN, answered by no one
      rtoMs: 50,
      retries: 2,
      lose: (s) => {
        sent.push(s.flags);
        return false;
      },
    });
    assert.unreachable('connect should fail');
  } catch (e) {
    assert.match((e as Error).message, /SYN not acknowledged after 2 retransmissions/);
  }
  assert.equal(sent, [SYN, SYN, SYN]);
});

test('a lost first data segment is retransmitted with its options; the server gets the data once', async () => {
  let dropped = false;
  const c = await open(V4, {
    dropAck: true,
    dataOptions: toa4,
    rtoMs: 100,
    lose: (s) => {
      if (dropped || s.payload.length === 0) return false;
      dropped = true;
      return true;
    },
  });
  await c.send('again');
  const data = c.log.filter((e) => e.dir === 'out' && e.segment.payload.length > 0);
  assert.is(data.length, 2);
  assert.ok(data[0]?.lost);
  for (const e of data) assert.equal(Array.from(e.segment.options), Array.from(toa4));
  assert.is(text(await recvBytes(c, 5)), 'again');
  const seen = await connectionOf(c);
  await c.close();
  // The server reports over a pipe that may lag the echo on the TUN: read its events once it closed.
  await server.waitFor((e) => e.ev === 'close' && e.id === seen.id);
  const received = server.events.filter((e) => e.ev === 'data' && e.id === seen.id).map((e) => e.hex);
  assert.is(received.join(''), Buffer.from('again').toString('hex'), `segments:\n${trace(c)}`);
});

test('raw segments outside any connection: a SYN to a closed port draws the kernel RST', async () => {
  const port = nextPort++;
  const reply = tun.next((p) => {
    const s = parseSegment(p);
    return s?.dstPort === port && (s.flags & RST) !== 0;
  }, 3000);
  sendSegment(tun, {
    src: textToAddress(V6.peer),
    dst: textToAddress(V6.server),
    srcPort: port,
    dstPort: 9,
    seq: 1000,
    flags: SYN,
    options: Uint8Array.of(...mssOption(1000), ...toa4),
  });
  const rst = parseSegment(await reply);
  assert.ok(rst);
  assert.is(rst.ack, 1001);
});

test('options that do not fit are refused with a fix', async () => {
  assert.throws(
    () =>
      connect({
        tun,
        src: { address: V4.peer, port: 1 },
        dst: { address: V4.server, port: PORT },
        ackOptions: toa4.subarray(0, 6),
      }),
    /pad it to a multiple of 4/,
  );
  assert.throws(
    () =>
      connect({
        tun,
        src: { address: V4.peer, port: 1 },
        dst: { address: V4.server, port: PORT },
        dropAck: true,
        ackOptions: toa4,
      }),
    /use dataOptions/,
  );
});

test.run();
