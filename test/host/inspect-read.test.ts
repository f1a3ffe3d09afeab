// The capture reader: .pcap in both byte orders and both timestamp precisions, .pcapng with
// several interfaces and sections in both byte orders, any chunking, and damaged files.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  type CaptureRecord,
  createCaptureParser,
  readCapture,
  recordBytes,
  splitTimestamp,
} from '../../src/inspect/pcap-read.js';
import { pcapFile } from '../../src/inspect/pcap-write.js';
import { pcapng, tempFile } from './inspect-helpers.js';

type Seen = Omit<CaptureRecord, 'buf' | 'start'> & { hex: string };

function parse(bytes: Uint8Array, chunk = bytes.length): Seen[] {
  const seen: Seen[] = [];
  const p = createCaptureParser((r) => {
    // buf and start say where the bytes sit in the reader's buffer, which chunking changes.
    const { buf: _buf, start: _start, ...rest } = r;
    seen.push({ ...rest, hex: Buffer.from(recordBytes(r)).toString('hex') });
  });
  for (let i = 0; i < bytes.length; i += chunk) p.push(bytes.subarray(i, i + chunk));
  p.end();
  return seen;
}

function parseError(bytes: Uint8Array, chunk = bytes.length): { error: string; seen: number } {
  let seen = 0;
  const p = createCaptureParser(() => {
    seen++;
  });
  try {
    for (let i = 0; i < bytes.length; i += chunk) p.push(bytes.subarray(i, i + chunk));
    p.end();
  } catch (e) {
    return { error: (e as Error).message, seen };
  }
  throw new Error('expected an error');
}

const A = Uint8Array.of(0x45, 1, 2, 3);
const B = Uint8Array.of(0x60, 9, 8, 7, 6, 5);

for (const bigEndian of [false, true])
  for (const nanos of [false, true])
    test(`pcap ${bigEndian ? 'big' : 'little'}-endian, ${nanos ? 'ns' : 'us'}: records and timestamps`, () => {
      const file = pcapFile({ linktype: 101, snaplen: 1500, nanos, bigEndian }, [
        { data: A, tsSec: 1_700_000_000, tsNsec: 123_456_000 },
        { data: B, tsSec: 1_700_000_001, tsNsec: 999_999_000, origLen: 60 },
      ]);
      const seen = parse(file);
      assert.is(seen.length, 2);
      const [a, b] = seen as [Seen, Seen];
      assert.equal(
        [a.index, a.offset, a.linktype, a.snaplen, a.caplen, a.origLen, a.hex],
        [0, 24, 101, 1500, 4, 4, '45010203'],
      );
      assert.equal([a.tsSec, a.tsNsec], [1_700_000_000, 123_456_000]);
      assert.equal([b.index, b.offset, b.caplen, b.origLen, b.iface], [1, 44, 6, 60, 0]);
      assert.ok(Math.abs(b.ts - 1_700_000_001.999999) < 1e-6);
    });

test('pcap: every chunking gives the same records (headers and records split anywhere)', () => {
  const file = pcapFile(
    { linktype: 1 },
    Array.from({ length: 20 }, (_, i) => ({ data: new Uint8Array(i * 7).fill(i), ts: i })),
  );
  const whole = parse(file);
  assert.is(whole.length, 20);
  for (const chunk of [1, 2, 3, 5, 16, 17, 23, 24, 25, 100])
    assert.equal(parse(file, chunk), whole, `chunk ${chunk}`);
});

test('pcap truncated inside a record: error names the byte offset, nothing of it reported', () => {
  const file = pcapFile({ linktype: 101 }, [{ data: A }, { data: B }]);
  for (const cut of [1, 10, 21]) {
    const r = parseError(file.subarray(0, file.length - cut), 7);
    assert.is(r.seen, 1, `cut ${cut}`);
    assert.match(r.error, /^byte 44: file is truncated/);
  }
  const header = parseError(file.subarray(0, 10));
  assert.match(header.error, /^byte 0: file is truncated: 10 bytes of an incomplete file header/);
  assert.is(header.seen, 0);
});

test('not a pcap: one line saying so; empty and tiny files too', () => {
  assert.match(
    parseError(new TextEncoder().encode('hello world, not a capture')).error,
    /^not a pcap or pcapng file \(it starts with 68656c6c\)$/,
  );
  assert.match(parseError(new Uint8Array(0)).error, /empty/);
  assert.match(parseError(Uint8Array.of(1, 2)).error, /only 2 bytes/);
});

test('pcap: an absurd record length is corruption, reported at its offset', () => {
  const file = pcapFile({ linktype: 101 }, [{ data: A }]);
  new DataView(file.buffer).setUint32(24 + 8, 0x7fffffff, true);
  const r = parseError(file);
  assert.match(r.error, /^byte 24: record claims 2147483647 captured bytes/);
});

const ifaces = [
  { linktype: 1, snaplen: 262144 },
  { linktype: 101, snaplen: 128, tsresol: 9 },
  { linktype: 113, tsresol: 0x80 | 10 }, // 2^-10 s
];

for (const le of [true, false])
  test(`pcapng ${le ? 'little' : 'big'}-endian: three interfaces, tsresol, SPB, unknown blocks`, () => {
    const file = pcapng(
      [
        {
          ifaces,
          junk: [Uint8Array.of(1, 2, 3, 4, 5)],
          packets: [
            { iface: 0, data: A, ts: 1_700_000_000_250_000n },
            { iface: 1, data: B, ts: 1_700_000_000_123_456_789n, origLen: 1000 },
            { iface: 2, data: A, ts: 1_700_000_000n * 1024n + 512n },
            { iface: 0, data: B, simple: true },
          ],
        },
      ],
      le,
    );
    const seen = parse(file);
    assert.is(seen.length, 4);
    const [a, b, c, d] = seen as [Seen, Seen, Seen, Seen];
    assert.equal(
      [a.iface, a.linktype, a.tsSec, a.tsNsec, a.hex],
      [0, 1, 1_700_000_000, 250_000_000, '45010203'],
    );
    assert.equal(
      [b.iface, b.linktype, b.snaplen, b.tsSec, b.tsNsec, b.caplen, b.origLen],
      [1, 101, 128, 1_700_000_000, 123_456_789, 6, 1000],
    );
    assert.equal([c.iface, c.linktype, c.tsSec, c.tsNsec], [2, 113, 1_700_000_000, 500_000_000]);
    assert.equal([d.iface, d.linktype, d.caplen, d.hex], [0, 1, 6, '600908070605']);
    for (const chunk of [1, 3, 8, 13, 64]) assert.equal(parse(file, chunk), seen, `chunk ${chunk}`);
  });

test('pcapng: several sections, each with its own byte order and interfaces', () => {
  const s1 = pcapng([{ ifaces: [{ linktype: 1 }], packets: [{ iface: 0, data: A }] }], true);
  const s2 = pcapng(
    [{ ifaces: [{ linktype: 101 }, { linktype: 276 }], packets: [{ iface: 1, data: B }] }],
    false,
  );
  const file = new Uint8Array([...s1, ...s2]);
  const seen = parse(file, 5);
  // Interfaces are numbered across sections: the second section's interface 1 is number 2.
  assert.equal(
    seen.map((r) => [r.iface, r.linktype, r.offset]),
    [
      [0, 1, 48],
      [2, 276, s1.length + 68],
    ],
  );
});

test('pcapng damaged: truncated block, bad trailer, unknown interface, no byte-order magic', () => {
  const file = pcapng([
    {
      ifaces: [{ linktype: 1 }],
      packets: [
        { iface: 0, data: A },
        { iface: 0, data: B },
      ],
    },
  ]);
  const lastBlock = file.length - 40; // the EPB of B: 12 + 20 + 6 bytes padded to 8
  const cut = parseError(file.subarray(0, file.length - 3), 11);
  assert.is(cut.seen, 1);
  assert.match(
    cut.error,
    new RegExp(`^byte ${lastBlock}: file is truncated: 37 bytes of an incomplete block`),
  );

  const trailer = file.slice();
  trailer[file.length - 4] = 0xff;
  const t = parseError(trailer);
  assert.match(t.error, new RegExp(`^byte ${lastBlock}: pcapng block's trailing length`));
  assert.is(t.seen, 1);

  const badIface = pcapng([{ ifaces: [{ linktype: 1 }], packets: [{ iface: 3, data: A }] }]);
  assert.match(parseError(badIface).error, /packet on interface 3, but this section declared 1 interface/);

  const noBom = file.slice();
  noBom[8] = 0;
  assert.match(parseError(noBom).error, /^byte 8: pcapng section header has no byte-order magic/);
});

test('splitTimestamp is exact for 64-bit nanoseconds and for binary resolutions', () => {
  const out = { tsSec: 0, tsNsec: 0 };
  const ns = 4_102_444_800_123_456_789n; // 2100-01-01, beyond 2^53 ns
  splitTimestamp(Number(ns >> 32n), Number(ns & 0xffffffffn), 1e9, out);
  assert.equal(out, { tsSec: 4_102_444_800, tsNsec: 123_456_789 });
  splitTimestamp(0, 3 * 1024 + 256, 1024, out);
  assert.equal(out, { tsSec: 3, tsNsec: 250_000_000 });
  splitTimestamp(0, 1_500_000, 1e6, out);
  assert.equal(out, { tsSec: 1, tsNsec: 500_000_000 });
});

test('readCapture streams a file in small chunks and counts the packets', async () => {
  const file = pcapFile(
    { linktype: 101 },
    Array.from({ length: 1000 }, (_, i) => ({ data: new Uint8Array(60).fill(i & 0xff), ts: i })),
  );
  const path = tempFile(file);
  let sum = 0;
  const r = await readCapture(
    path,
    (rec) => {
      sum += recordBytes(rec)[0] as number;
    },
    4096,
  );
  assert.equal(r, { format: 'pcap', packets: 1000 });
  assert.is(
    sum,
    Array.from({ length: 1000 }, (_, i) => i & 0xff).reduce((a, b) => a + b, 0),
  );
});

test('readCapture: records bigger than its chunk grow the buffer, pcapng too', async () => {
  const sizes = [40, 5000, 70, 20_000, 60];
  const packets = sizes.map((n, i) => new Uint8Array(n).fill(i + 1));
  for (const bytes of [
    pcapFile(
      { linktype: 101 },
      packets.map((data, i) => ({ data, ts: i })),
    ),
    pcapng([{ ifaces: [{ linktype: 101 }], packets: packets.map((data) => ({ iface: 0, data })) }]),
  ]) {
    const seen: [number, number][] = [];
    const r = await readCapture(
      tempFile(bytes),
      (rec) => seen.push([rec.caplen, recordBytes(rec)[rec.caplen - 1] as number]),
      256,
    );
    assert.is(r.packets, sizes.length);
    assert.equal(
      seen,
      sizes.map((n, i) => [n, i + 1]),
    );
  }
});

test.run();
