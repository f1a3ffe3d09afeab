// The in-place path of src/wire (what the inspector uses per packet) against the allocating API:
// parseToaIn on a block inside a bigger buffer answers as parseToa does for every vector, and
// viewSegment reads what parseSegment does, bounded by the frame's end, never past it.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  ACK,
  buildSegment,
  canonicalLine,
  checkVectorFile,
  decodeOptions,
  encodeOptions,
  encodeToa,
  expectLine,
  findOption,
  findOptionIn,
  fromHex,
  KIND,
  mssOption,
  newSegmentView,
  PSH,
  parseSegment,
  parseToaIn,
  SYN,
  textToAddress,
  vectorFormats,
  viewSegment,
} from '../../src/wire/index.js';

const VECTOR_DIR = join(import.meta.dirname, '..', 'vectors');
const vectors = readdirSync(VECTOR_DIR)
  .filter((f) => f.endsWith('.json'))
  .flatMap((f) => checkVectorFile(JSON.parse(readFileSync(join(VECTOR_DIR, f), 'utf8')), f));

test('parseToaIn over a block inside a larger buffer: every vector, offsets from the block', () => {
  const wrong: string[] = [];
  for (const v of vectors) {
    const block = fromHex(v.hex);
    // Bytes on both sides that would be a TOA if the walk strayed out of its bounds.
    const around = encodeToa({ format: '254/8', address: '192.0.2.99', port: 9 });
    const buf = new Uint8Array(around.length + block.length + around.length);
    buf.set(around);
    buf.set(block, around.length);
    buf.set(around, around.length + block.length);
    const got = canonicalLine(parseToaIn(buf, around.length, around.length + block.length, vectorFormats(v)));
    if (got !== expectLine(v.expect)) wrong.push(`${v.name}: got ${got}`);
  }
  assert.equal(wrong, []);
});

test('findOptionIn and findOption agree with decodeOptions on the vectors', () => {
  for (const v of vectors) {
    const block = fromHex(v.hex);
    for (const kind of [KIND.MSS, KIND.TIMESTAMPS, KIND.EXP2, KIND.NOP, KIND.EOL, 28]) {
      const listed = decodeOptions(block).find((o) => o.kind === kind && o.error === undefined);
      const at = findOptionIn(block, 0, block.length, kind);
      assert.is(at, listed ? listed.offset : -1, `${v.name} kind ${kind}`);
      assert.equal(findOption(block, kind), listed?.data, `${v.name} kind ${kind}`);
    }
  }
});

const v4 = { src: textToAddress('198.51.100.1'), dst: textToAddress('198.51.100.2') };
const v6 = { src: textToAddress('2001:db8::1'), dst: textToAddress('2001:db8::2') };

test('viewSegment reads the fields parseSegment copies, IPv4 and IPv6, at any offset', () => {
  const options = encodeOptions([
    mssOption(1400),
    encodeToa({ format: '254/8', address: '203.0.113.7', port: 80 }),
  ]);
  for (const addrs of [v4, v6]) {
    const pkt = buildSegment({
      ...addrs,
      srcPort: 40000,
      dstPort: 443,
      seq: 0xfffffff0,
      ack: 7,
      flags: PSH | ACK,
      options,
      payload: Uint8Array.of(1, 2, 3),
    });
    const seg = parseSegment(pkt);
    if (!seg) throw new Error('parseSegment refused its own packet');
    const frame = new Uint8Array(14 + pkt.length + 6); // a link header before, padding after
    frame.set(pkt, 14);
    const v = newSegmentView();
    assert.ok(viewSegment(frame, 14, v, 14 + pkt.length));
    assert.equal(
      [v.family, v.srcPort, v.dstPort, v.seq, v.ack, v.flags, v.window, v.dataOffset],
      [seg.family, seg.srcPort, seg.dstPort, seg.seq, seg.ack, seg.flags, seg.window, seg.dataOffset],
    );
    assert.equal(frame.subarray(v.addr, v.addr + v.addrLen), seg.src);
    assert.equal(frame.subarray(v.addr + v.addrLen, v.addr + 2 * v.addrLen), seg.dst);
    assert.equal(frame.subarray(v.options, v.data), seg.options);
    assert.equal(frame.subarray(v.data, v.end), seg.payload);
  }
});

test('viewSegment refuses a packet that runs past the frame, a bad data offset, and non-TCP', () => {
  const pkt = buildSegment({ ...v4, srcPort: 1, dstPort: 2, flags: SYN, options: mssOption(1460) });
  const v = newSegmentView();
  const frame = new Uint8Array(pkt.length + 8);
  frame.set(pkt);
  assert.ok(viewSegment(frame, 0, v, pkt.length));
  assert.not.ok(viewSegment(frame, 0, v, pkt.length - 1), 'cut by the limit');
  const bad = buildSegment({ ...v4, srcPort: 1, dstPort: 2, flags: SYN, dataOffset: 4 });
  assert.not.ok(viewSegment(bad, 0, v), 'data offset below 5');
  const udp = pkt.slice();
  udp[9] = 17;
  assert.not.ok(viewSegment(udp, 0, v), 'UDP');
  assert.is(parseSegment(udp), undefined);
});

test.run();
