// The IP/TCP segment codec in src/wire, pure: checksums against bytes computed elsewhere (the
// RFC/Wikipedia example, segments captured from a Linux kernel over a TUN), round-trips and exact
// option placement.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  ACK,
  addressToText,
  buildIp,
  buildSegment,
  checksum,
  encodeTcp,
  FIN,
  findOption,
  mssOption,
  PSH,
  parseIp,
  parseSegment,
  SYN,
  textToAddress,
} from '../../src/wire/index.js';

const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');

// Captured from Linux 6.x: the kernel filled in every checksum, our code did not.
// 198.51.100.1:8080 -> 198.51.100.2:40000 SYN-ACK with MSS 1460.
const V4_SYNACK = hex(
  '4500002c000040004006e661c6336401c63364021f909c4053150ba3c3ec79bc6012faf0f0880000020405b4',
);
// The same connection's echo of "hello": 5 bytes, so the checksum covers an odd tail byte.
const V4_DATA = hex(
  '4500002dfb0f40004006eb50c6336401c63364021f909c4053150ba4c3ec79c15018faebc466000068656c6c6f',
);
// 2001:db8:1::1:8080 -> 2001:db8:1::2:40000 SYN-ACK with MSS 1440 (flow label 0xc4da0).
const V6_SYNACK = hex(
  '600c4da00018064020010db800010000000000000000000120010db80001000000000000000000021f909c40873de52bd1c326fa6012fd201e9b0000020405a0',
);
const V6_DATA = hex(
  '600c4da00019064020010db800010000000000000000000120010db80001000000000000000000021f909c40873de52cd1c326ff5018fd1bf264000068656c6c6f',
);

test('Internet checksum: the classic IPv4 header example sums to 0xb861', () => {
  const header = hex('45000073000040004011 0000 c0a80001c0a800c7');
  assert.is(checksum(header), 0xb861);
  header[10] = 0xb8;
  header[11] = 0x61;
  assert.is(checksum(header), 0, 'a header with its checksum in place sums to zero');
});

test('checksum of an odd length pads the last byte on the right (RFC 1071)', () => {
  assert.is(checksum(Uint8Array.of(0x01)), ~0x0100 & 0xffff);
  assert.is(checksum(Uint8Array.of(0xff, 0xff, 0x00, 0x01)), 0xfffe);
});

for (const [name, pkt] of [
  ['IPv4 SYN-ACK', V4_SYNACK],
  ['IPv4 odd-length data', V4_DATA],
  ['IPv6 SYN-ACK', V6_SYNACK],
  ['IPv6 odd-length data', V6_DATA],
] as const) {
  test(`kernel ${name}: parses, checksums verify, and re-encoding gives the kernel's exact TCP bytes`, () => {
    const seg = parseSegment(pkt);
    assert.ok(seg, 'parsed');
    assert.ok(seg.checksumOk);
    const ip = parseIp(pkt);
    assert.ok(ip);
    const tcp = encodeTcp({ ...seg, options: seg.options, payload: seg.payload });
    assert.is(toHex(tcp), toHex(ip.payload));
    if (seg.family === 4) {
      const id = (pkt[4] as number) * 256 + (pkt[5] as number);
      const rebuilt = buildIp({ src: seg.src, dst: seg.dst, protocol: 6, payload: tcp, id });
      assert.is(toHex(rebuilt), toHex(pkt), 'IPv4 header checksum as the kernel computed it');
    }
  });
}

test('kernel segments decode to the fields tcpdump shows', () => {
  const s4 = parseSegment(V4_SYNACK);
  assert.ok(s4);
  assert.is(addressToText(s4.src), '198.51.100.1');
  assert.is(s4.srcPort, 8080);
  assert.is(s4.dstPort, 40000);
  assert.is(s4.flags, SYN | ACK);
  assert.is(s4.window, 64240);
  assert.equal(Array.from(findOption(s4.options, 2) ?? []), [0x05, 0xb4]);
  const d6 = parseSegment(V6_DATA);
  assert.ok(d6);
  assert.is(addressToText(d6.dst), '2001:db8:1::2');
  assert.is(d6.flags, PSH | ACK);
  assert.is(Buffer.from(d6.payload).toString(), 'hello');
});

test('a flipped payload bit fails the TCP checksum; a flipped header bit fails the IPv4 one', () => {
  const flip = (b: Uint8Array, i: number, bit: number) => {
    b[i] = (b[i] as number) ^ bit;
    return b;
  };
  const bad = flip(V4_DATA.slice(), V4_DATA.length - 1, 1);
  assert.is(parseSegment(bad)?.checksumOk, false);
  const badHdr = flip(V4_DATA.slice(), 8, 1);
  assert.is(parseIp(badHdr)?.headerChecksumOk, false);
  const bad6 = flip(V6_SYNACK.slice(), 30, 0x80); // the destination address is in the pseudo-header
  assert.is(parseSegment(bad6)?.checksumOk, false);
});

const v4 = { src: textToAddress('203.0.113.9'), dst: textToAddress('198.51.100.1') };
const v6 = { src: textToAddress('2001:db8:2::9'), dst: textToAddress('2001:db8:1::1') };

for (const [name, addrs, hl] of [
  ['IPv4', v4, 20],
  ['IPv6', v6, 40],
] as const) {
  test(`${name}: options go right after the 20-byte TCP header, byte for byte; data offset follows`, () => {
    const options = Uint8Array.of(254, 8, 0x1f, 0x90, 192, 0, 2, 1, 1, 1, 0, 0);
    const payload = new TextEncoder().encode('GET / HTTP/1.0\r\n\r\n');
    const pkt = buildSegment({
      ...addrs,
      srcPort: 1234,
      dstPort: 80,
      seq: 0xfffffff0,
      ack: 7,
      flags: ACK | PSH,
      options,
      payload,
    });
    assert.is(pkt.length, hl + 20 + options.length + payload.length);
    assert.is((pkt[hl + 12] as number) >> 4, 8);
    assert.is(toHex(pkt.subarray(hl + 20, hl + 32)), toHex(options));
    const seg = parseSegment(pkt);
    assert.ok(seg?.checksumOk);
    assert.is(seg.seq, 0xfffffff0);
    assert.is(seg.ack, 7);
    assert.is(seg.dataOffset, 8);
    assert.is(toHex(seg.options), toHex(options));
    assert.is(toHex(seg.payload), toHex(payload));
    assert.is(addressToText(seg.src), addressToText(addrs.src));
  });
}

test('IPv6 payload length and IPv4 total length; IPv4 header checksum verifies', () => {
  const p6 = buildSegment({ ...v6, srcPort: 1, dstPort: 2, flags: SYN, options: mssOption(1400) });
  assert.is((p6[4] as number) * 256 + (p6[5] as number), 24);
  assert.is(p6[6], 6);
  const p4 = buildSegment({ ...v4, srcPort: 1, dstPort: 2, flags: FIN | ACK, ttl: 3 });
  assert.is((p4[2] as number) * 256 + (p4[3] as number), 40);
  assert.is(p4[8], 3);
  assert.is(parseIp(p4)?.headerChecksumOk, true);
});

test('option blocks that do not fit are refused unless the data offset is forced', () => {
  const base = { ...v4, srcPort: 1, dstPort: 2, flags: ACK };
  assert.throws(() => buildSegment({ ...base, options: Uint8Array.of(254, 6, 0, 0, 0, 0) }), /multiple of 4/);
  // Malformed on purpose: a data offset of 15 words over a 4-byte block.
  const pkt = buildSegment({ ...base, options: mssOption(536), dataOffset: 15 });
  assert.is((pkt[32] as number) >> 4, 15);
  assert.is(parseSegment(pkt), undefined, 'a data offset beyond the segment does not parse');
  const wrong = buildSegment({ ...base, checksum: 0x1234 });
  assert.is(parseSegment(wrong)?.checksumOk, false);
});

test('IPv6 extension headers before TCP are skipped', () => {
  const inner = buildSegment({ ...v6, srcPort: 5, dstPort: 6, flags: SYN });
  const tcp = inner.subarray(40);
  const hop = Uint8Array.of(6, 0, 1, 4, 0, 0, 0, 0); // next: TCP, 8 bytes, PadN
  const pkt = new Uint8Array(40 + hop.length + tcp.length);
  pkt.set(inner.subarray(0, 40));
  pkt[4] = 0;
  pkt[5] = hop.length + tcp.length;
  pkt[6] = 0; // hop-by-hop
  pkt.set(hop, 40);
  pkt.set(tcp, 48);
  const seg = parseSegment(pkt);
  assert.ok(seg?.checksumOk);
  assert.is(seg.dstPort, 6);
});

test('addresses: text <-> bytes, including :: forms and an embedded IPv4 tail', () => {
  for (const t of [
    '198.51.100.1',
    '2001:db8:1::1',
    '::',
    '::1',
    '1::',
    '2001:db8::1:0:0:1',
    'fe80::1:2:3:4',
  ]) {
    assert.is(addressToText(textToAddress(t)), t);
  }
  assert.is(toHex(textToAddress('::ffff:192.0.2.1')), '00000000000000000000ffffc0000201');
  assert.is(addressToText(textToAddress('2001:0db8:0000:0000:0001:0000:0000:0001')), '2001:db8::1:0:0:1');
  assert.throws(() => textToAddress('example.com'), /not an IPv4 or IPv6 address/);
});

test('findOption walks NOPs and stops at EOL or a bad length', () => {
  const opts = Uint8Array.of(1, 1, 254, 8, 0, 80, 10, 0, 0, 1, 0, 2, 4, 5, 180);
  assert.equal(Array.from(findOption(opts, 254) ?? []), [0, 80, 10, 0, 0, 1]);
  assert.is(findOption(opts, 2), undefined, 'after EOL');
  assert.is(findOption(Uint8Array.of(2, 0, 5, 180), 2), undefined, 'length 0 is malformed');
});

test.run();
