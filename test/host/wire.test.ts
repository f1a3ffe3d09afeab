import { readdirSync, readFileSync } from 'node:fs';
import { isIP, SocketAddress } from 'node:net';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  addressToText,
  canonicalLine,
  checkVectorFile,
  DEFAULT_FORMATS,
  decodeOptions,
  encodeOptions,
  encodeToa,
  expectLine,
  FORMAT_NAMES,
  FORMATS,
  type FormatName,
  formatsToMask,
  fromHex,
  harnessInputLine,
  KIND,
  maskToFormats,
  parseFormats,
  parseToa,
  REASONS,
  type Reason,
  type ToaInput,
  textToAddress,
  toHex,
  type Vector,
  vectorFormats,
} from '../../src/wire/index.js';

const VECTOR_DIR = join(import.meta.dirname, '..', 'vectors');

const files = readdirSync(VECTOR_DIR)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((f) => ({
    file: f,
    vectors: checkVectorFile(JSON.parse(readFileSync(join(VECTOR_DIR, f), 'utf8')), f),
  }));
const vectors: Vector[] = files.flatMap((f) => f.vectors);

test('vector corpus: at least 70 vectors, names unique across files', () => {
  assert.ok(vectors.length >= 70, `only ${vectors.length} vectors`);
  const seen = new Set<string>();
  for (const v of vectors) {
    assert.not.ok(seen.has(v.name), `duplicate vector name ${v.name}`);
    seen.add(v.name);
  }
});

// One test per file, listing every mismatch: a decoder change usually breaks several at once.
for (const { file, vectors: list } of files) {
  test(`vectors: ${file}`, () => {
    const wrong: string[] = [];
    for (const v of list) {
      const block = fromHex(v.hex);
      const formats = vectorFormats(v);
      const want = expectLine(v.expect);
      const got = canonicalLine(parseToa(block, formats));
      if (got !== want) wrong.push(`${v.name}: got ${got}, want ${want}`);
      // The mask form must give the same answer as the name form.
      const byMask = canonicalLine(parseToa(block, formatsToMask(formats)));
      if (byMask !== want) wrong.push(`${v.name} (mask): got ${byMask}`);
      const result = parseToa(block, formats);
      if (result.status === 'toa' && typeof v.expect === 'object' && !('error' in v.expect)) {
        const { kind, ...rest } = result.toa;
        // Text forms too: the line compares bytes, the expect also pins how addresses print.
        if (JSON.stringify(rest) !== JSON.stringify(v.expect)) {
          wrong.push(`${v.name}: got ${JSON.stringify(rest)}, want ${JSON.stringify(v.expect)}`);
        }
        if (kind !== FORMATS.find((f) => f.name === rest.format)?.kind) wrong.push(`${v.name}: kind ${kind}`);
      }
    }
    assert.equal(wrong, []);
  });
}

test('vector corpus covers every format (decoded and not) and every error', () => {
  for (const name of FORMAT_NAMES) {
    const decoded = vectors.some(
      (v) => typeof v.expect === 'object' && 'format' in v.expect && v.expect.format === name,
    );
    assert.ok(decoded, `no vector decodes ${name}`);
    const kind = FORMATS.find((f) => f.name === name)?.kind;
    const ignored = vectors.some(
      (v) =>
        !vectorFormats(v).includes(name) &&
        fromHex(v.hex)[0] === kind &&
        (v.expect === 'none' || ('error' in v.expect && v.expect.error === 'toa-len')),
    );
    assert.ok(ignored, `no vector shows kind ${kind} ignored without ${name}`);
  }
  for (const reason of REASONS) {
    assert.ok(
      vectors.some((v) => typeof v.expect === 'object' && 'error' in v.expect && v.expect.error === reason),
      `no vector expects ${reason}`,
    );
  }
});

// Vectors must not carry real addresses: only RFC 5737 and RFC 3849 documentation ranges.
function isDocumentation(text: string): boolean {
  const b = textToAddress(text);
  const v4 =
    b.length === 4 ? b : toHex(b.subarray(0, 12)) === '00000000000000000000ffff' ? b.subarray(12) : null;
  if (v4) return ['192.0.2', '198.51.100', '203.0.113'].includes(`${v4[0]}.${v4[1]}.${v4[2]}`);
  return toHex(b.subarray(0, 4)) === '20010db8';
}

test('vector corpus uses documentation addresses only', () => {
  for (const v of vectors) {
    if (typeof v.expect !== 'object' || 'error' in v.expect) continue;
    assert.ok(isDocumentation(v.expect.address), `${v.name}: ${v.expect.address}`);
    if (v.expect.vip) assert.ok(isDocumentation(v.expect.vip.address), `${v.name}: ${v.expect.vip.address}`);
  }
});

const SAMPLES: Record<FormatName, ToaInput> = {
  '254/8': { format: '254/8', address: '203.0.113.7', port: 8080 },
  '254/20': { format: '254/20', address: '2001:db8::1', port: 443 },
  '253/20': { format: '253/20', address: '::ffff:198.51.100.23', port: 0 },
  '200/8': { format: '200/8', address: '192.0.2.1', port: 65535 },
  '252/8': { format: '252/8', address: '198.51.100.10', port: 80 },
  '253/8': { format: '253/8', address: '192.0.2.200', port: 12345 },
  '28/7': { format: '28/7', address: '203.0.113.255' },
  '28/19': { format: '28/19', address: '2001:db8:85a3::8a2e:370:7334' },
  '254/16': {
    format: '254/16',
    address: '203.0.113.7',
    port: 51234,
    vip: { address: '198.51.100.10', port: 80 },
  },
  '253/hostid': { format: '253/hostid', address: '192.0.2.1' },
  '254/hostid': { format: '254/hostid', address: '2001:db8::abcd' },
};

test('encodeToa and encodeOptions round-trip through parseToa for every format', () => {
  const mss = { kind: KIND.MSS, data: Uint8Array.of(0x05, 0xb4) };
  const ts = { kind: KIND.TIMESTAMPS, data: new Uint8Array(8).fill(7) };
  for (const name of FORMAT_NAMES) {
    const input = SAMPLES[name];
    const option = encodeToa(input);
    const spec = FORMATS.find((f) => f.name === name);
    assert.is(option[0], spec?.kind, name);
    assert.is(option[1], option.length, name);
    for (const [before, at] of [
      [[], 0],
      [[mss], 4],
      [[{ kind: KIND.NOP }, { kind: KIND.NOP }, ts], 12],
    ] as const) {
      const block = encodeOptions([...before, option]);
      assert.is(block.length % 4, 0, `${name} padded`);
      const r = parseToa(block, [name]);
      assert.is(r.status, 'toa', `${name}: ${canonicalLine(r)}`);
      if (r.status !== 'toa') continue;
      assert.equal(
        { ...r.toa },
        {
          format: name,
          kind: spec?.kind,
          family: textToAddress(input.address).length === 4 ? 4 : 6,
          address: addressToText(textToAddress(input.address)),
          port: input.port ?? null,
          offset: at,
          ...(input.vip ? { vip: input.vip } : {}),
        },
        name,
      );
    }
  }
});

test('encodeToa refuses bad input with a message that says what to do', () => {
  const bad: [ToaInput, RegExp][] = [
    [
      { format: '255/8' as FormatName, address: '192.0.2.1', port: 1 },
      /unknown TOA format "255\/8".*254\/8, 254\/20/,
    ],
    [{ format: '254/8', address: '2001:db8::1', port: 1 }, /254\/8 carries an IPv4 address/],
    [{ format: '254/20', address: '192.0.2.1', port: 1 }, /::ffff:a\.b\.c\.d/],
    [{ format: '28/19', address: '192.0.2.1' }, /28\/19 carries an IPv6 address/],
    [{ format: '254/8', address: '192.0.2.1' }, /port must be an integer 0\.\.65535, got undefined/],
    [{ format: '254/8', address: '192.0.2.1', port: 65536 }, /0\.\.65535, got 65536/],
    [{ format: '254/8', address: '192.0.2.1', port: -1 }, /0\.\.65535/],
    [{ format: '254/8', address: '192.0.2.1', port: 1.5 }, /0\.\.65535/],
    [{ format: '28/7', address: '192.0.2.1', port: 80 }, /carries no port: leave port out/],
    [{ format: '254/hostid', address: '192.0.2.1', port: 80 }, /carries no port/],
    [{ format: '254/16', address: '192.0.2.1', port: 80 }, /pass vip/],
    [
      { format: '254/8', address: '192.0.2.1', port: 80, vip: { address: '192.0.2.2', port: 1 } },
      /use 254\/16/,
    ],
    [
      { format: '254/16', address: '192.0.2.1', port: 80, vip: { address: '2001:db8::1', port: 1 } },
      /vip carries an IPv4/,
    ],
    [
      { format: '254/16', address: '192.0.2.1', port: 80, vip: { address: '192.0.2.2', port: 70000 } },
      /vip port/,
    ],
    [{ format: '254/8', address: '192.0.2.256', port: 80 }, /not an IPv4 or IPv6 address/],
    [{ format: '254/20', address: 'fe80::1%eth0', port: 80 }, /not an IPv4 or IPv6 address/],
  ];
  for (const [input, message] of bad) assert.throws(() => encodeToa(input), message, JSON.stringify(input));
});

test('encodeOptions pads with NOPs and refuses what does not fit', () => {
  assert.is(toHex(encodeOptions([])), '');
  assert.is(toHex(encodeOptions([{ kind: KIND.MSS, data: Uint8Array.of(5, 0xb4) }])), '020405b4');
  assert.is(toHex(encodeOptions([{ kind: KIND.WSCALE, data: Uint8Array.of(7) }])), '03030701');
  assert.is(toHex(encodeOptions([{ kind: KIND.SACK_PERMITTED }, { kind: KIND.EOL }])), '04020001');
  assert.is(toHex(encodeOptions([Uint8Array.of(0x1c, 4, 0x82, 0x58)])), '1c048258');
  const ts = { kind: KIND.TIMESTAMPS, data: new Uint8Array(8) };
  const wscale = { kind: KIND.WSCALE, data: Uint8Array.of(7) };
  assert.is(encodeOptions([ts, ts, ts, wscale, { kind: KIND.MSS, data: Uint8Array.of(5, 0xb4) }]).length, 40);
  assert.throws(
    () => encodeOptions([ts, ts, ts, { kind: KIND.WSCALE, data: Uint8Array.of(7) }, { kind: KIND.NOP }, ts]),
    /at most 40/,
  );
  assert.throws(() => encodeOptions([ts, ts, ts, ts, { kind: KIND.NOP }]), /41 bytes \(44 padded\)/);
  assert.throws(() => encodeOptions([{ kind: 256 }]), /kind 256 is not an integer 0\.\.255/);
  assert.throws(() => encodeOptions([{ kind: KIND.NOP, data: Uint8Array.of(1) }]), /one byte/);
  assert.throws(() => encodeOptions([{ kind: 99, data: new Uint8Array(39) }]), /at most 38 fit/);
  assert.throws(() => encodeOptions([Uint8Array.of(0xfe, 8, 1)]), /exactly one well-formed option/);
  assert.throws(() => encodeOptions([Uint8Array.of(0xfe, 3, 1, 1)]), /exactly one well-formed option/);
  assert.throws(() => encodeOptions([new Uint8Array(0)]), /exactly one well-formed option/);
});

test('parseFormats reads comma lists and names the valid formats on error', () => {
  assert.equal(parseFormats('254/8,254/20'), ['254/8', '254/20']);
  assert.equal(parseFormats(' 254/20 , 254/8 ,254/8'), ['254/8', '254/20']);
  assert.equal(parseFormats('254/hostid,28/7,200/8'), ['200/8', '28/7', '254/hostid']);
  assert.equal(parseFormats(''), []);
  assert.throws(
    () => parseFormats('254/8,254/9'),
    /unknown TOA format "254\/9"; valid formats: 254\/8, 254\/20, 253\/20/,
  );
  assert.throws(() => parseFormats('254'), /valid formats: .*254\/hostid/);
  assert.equal(parseFormats(FORMAT_NAMES.join(',')), [...FORMAT_NAMES]);
});

test('format sets and masks convert both ways in bit order', () => {
  assert.is(formatsToMask(DEFAULT_FORMATS), 0b11);
  assert.is(formatsToMask(['254/hostid']), 1 << 10);
  assert.is(formatsToMask(['28/7', '254/16']), (1 << 6) | (1 << 8));
  assert.equal(maskToFormats(0b101000), ['200/8', '253/8']);
  assert.equal(maskToFormats(0x7ff), [...FORMAT_NAMES]);
  assert.throws(() => maskToFormats(0x800), /out of range: use an integer 0\.\.2047/);
  assert.throws(() => maskToFormats(-1), /out of range/);
  assert.throws(() => parseToa(new Uint8Array(0), ['254/9' as FormatName]), /valid formats/);
  assert.throws(() => parseToa(new Uint8Array(0), 1.5), /out of range/);
  assert.equal(
    parseToa(fromHex('fe08 1f90 cb007107')),
    parseToa(fromHex('fe08 1f90 cb007107'), DEFAULT_FORMATS),
  );
});

test('parseToa reports the offset of the option at fault', () => {
  const at = (hex: string, formats?: FormatName[]) => {
    const r = parseToa(fromHex(hex), formats);
    return r.status === 'error' ? [r.reason, r.offset] : r.status;
  };
  assert.equal(at('0101 fe0a 1f90 cb007107 0000'), ['toa-len', 2]);
  assert.equal(at('fe08 1f90 cb007107 01 fe08 1f90 cb007107'), ['toa-dup', 9]);
  assert.equal(at('0204 05b4 0300'), ['opt-len', 4]);
  assert.equal(at('010101 fe'), ['opt-trunc', 3]);
  assert.equal(at('01'.repeat(41)), ['too-long', 40]);
  assert.equal(at('1c07 02 cb007107', ['28/7']), ['toa-version', 0]);
  assert.equal(at('0101 fe0c 0348 cb007107 c633640a', ['254/hostid']), ['hostid-len', 2]);
});

test('decodeOptions lists a realistic SYN block', () => {
  const block = encodeOptions([
    { kind: KIND.MSS, data: Uint8Array.of(0x05, 0xb4) },
    { kind: KIND.SACK_PERMITTED },
    { kind: KIND.TIMESTAMPS, data: fromHex('0001e240 00000000') },
    { kind: KIND.NOP },
    { kind: KIND.WSCALE, data: Uint8Array.of(7) },
    encodeToa({ format: '254/8', address: '203.0.113.7', port: 8080 }),
  ]);
  assert.is(
    toHex(block),
    '020405b4' + '0402' + '080a0001e24000000000' + '01' + '030307' + 'fe081f90cb007107',
  );
  const list = decodeOptions(block).map((o) => [o.kind, o.offset, toHex(o.data), o.error]);
  assert.equal(list, [
    [2, 0, '05b4', undefined],
    [4, 4, '', undefined],
    [8, 6, '0001e24000000000', undefined],
    [1, 16, '', undefined],
    [3, 17, '07', undefined],
    [254, 20, '1f90cb007107', undefined],
  ]);
});

test('decodeOptions stops at EOL and lists a malformed option with its error', () => {
  const eol = decodeOptions(fromHex('0101 00 fe00'));
  assert.equal(
    eol.map((o) => [o.kind, o.offset]),
    [
      [1, 0],
      [1, 1],
      [0, 2],
    ],
  );
  const trunc = decodeOptions(fromHex('0204 05b4 080a 0001'));
  assert.is(trunc.length, 2);
  assert.equal(
    { ...trunc[1], data: toHex(trunc[1]?.data ?? new Uint8Array(0)) },
    {
      kind: 8,
      offset: 4,
      data: '0001',
      error: 'opt-trunc',
    },
  );
  assert.equal(
    decodeOptions(fromHex('0101 0300 0000')).map((o) => o.error),
    [undefined, undefined, 'opt-len'],
  );
  assert.equal(
    decodeOptions(fromHex('01 fe')).map((o) => [o.kind, o.error]),
    [
      [1, undefined],
      [254, 'opt-trunc'],
    ],
  );
  assert.equal(decodeOptions(new Uint8Array(0)), []);
});

// Node prints socket addresses with libuv's inet_ntop: the decoder must print the same text.
test('IPv6 text matches what Node prints, zero runs and dotted tails included', () => {
  let seed = 42;
  const rand = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed;
  };
  const fixed = [
    '::',
    '::1',
    '::2',
    '1::',
    '::ffff',
    '::ffff:0:0',
    '::ffff:0:1',
    '::1:0',
    '::c000:201',
    '::1:ffff:c000:201',
  ];
  const samples = fixed.map((t) => textToAddress(t));
  for (let i = 0; i < 5000; i++) {
    const b = new Uint8Array(16);
    for (let w = 0; w < 8; w++) {
      const r = rand() % 8;
      const word = r < 4 ? 0 : r === 4 ? 0xffff : r === 5 ? 1 : rand() & 0xffff;
      b[2 * w] = word >> 8;
      b[2 * w + 1] = word & 0xff;
    }
    samples.push(b);
  }
  for (const b of samples) {
    const text = addressToText(b);
    const node = new SocketAddress({ address: text, family: 'ipv6' }).address;
    assert.is(text, node, toHex(b));
    assert.is(toHex(textToAddress(text)), toHex(b), text);
  }
});

test('address text parsing agrees with Node on what is an address', () => {
  const inputs = [
    '0.0.0.0',
    '255.255.255.255',
    '192.0.2.1',
    '01.2.3.4',
    '1.2.3',
    '1.2.3.4.5',
    '256.1.1.1',
    ' 1.2.3.4',
    '::',
    '::1',
    '1::',
    '1:2:3:4:5:6:7:8',
    '1:2:3:4:5:6:7::',
    '::2:3:4:5:6:7:8',
    '1:2:3:4:5:6:7:8:9',
    '1::2::3',
    ':1::',
    '1:::2',
    '00001::',
    'g::1',
    '::ffff:1.2.3.4',
    '::FFFF:192.0.2.1',
    '1:2:3:4:5:6:1.2.3.4',
    '1:2:3:4:5:6:7:1.2.3.4',
    '1.2.3.4::',
    '::1.2.3.4:5',
    '::01.2.3.4',
    '2001:DB8::A',
    '',
    ':',
  ];
  for (const text of inputs) {
    let ours = 0;
    try {
      ours = textToAddress(text).length === 4 ? 4 : 6;
    } catch {}
    assert.is(ours, isIP(text), JSON.stringify(text));
  }
  assert.is(addressToText(textToAddress('2001:DB8:0:0:0:0:0:A')), '2001:db8::a');
  assert.throws(() => addressToText(new Uint8Array(5)), /4 or 16 bytes, got 5/);
});

test('C harness lines: input with - for the default set, output with hex addresses', () => {
  assert.is(harnessInputLine({ hex: 'FE08 1f90 cb00 7107' }), '- fe081f90cb007107');
  assert.is(harnessInputLine({ hex: '', formats: ['254/8', '28/7'] }), '254/8,28/7 ');
  assert.is(
    canonicalLine(parseToa(fromHex('fe10 1f90 cb007107 0000 0050 c633640a'), ['254/16'])),
    'toa 254/16 4 cb007107 8080 0 vip c633640a 80',
  );
  assert.is(
    canonicalLine(parseToa(fromHex('0101 1c13 01 00000000 00000000 0000ffff cb007107'), ['28/19'])),
    'toa 28/19 6 00000000000000000000ffffcb007107 - 2',
  );
  assert.is(canonicalLine(parseToa(fromHex(''))), 'none');
  assert.is(canonicalLine(parseToa(fromHex('fe00'))), 'error opt-len');
  const reasons: Reason[] = [...REASONS];
  assert.equal(
    reasons.map((error) => expectLine({ error })),
    reasons.map((r) => `error ${r}`),
  );
});

test('checkVectorFile names the vector at fault', () => {
  const file = (v: unknown) => ({ description: 'x', vectors: [v] });
  assert.throws(() => checkVectorFile({ vectors: [] }, 'f.json'), /f\.json: expected/);
  assert.throws(
    () => checkVectorFile(file({ name: 'a', hex: 'zz', expect: 'none' }), 'f.json'),
    /vector 0 \("a"\).*not hex/,
  );
  assert.throws(
    () => checkVectorFile(file({ name: 'a', hex: '', formats: ['9/9'], expect: 'none' })),
    /unknown format 9\/9/,
  );
  assert.throws(
    () => checkVectorFile(file({ name: 'a', hex: '', expect: { error: 'nope' } })),
    /bad error expect/,
  );
  assert.throws(
    () =>
      checkVectorFile(
        file({ name: 'a', hex: '', expect: { format: '254/8', family: 4, address: 'x', port: 1 } }),
      ),
    /exactly the keys/,
  );
});

test.run();
