// The C decoder (kmod/toa_parse.c through build/c/vectors) and the TypeScript one (src/wire)
// must give every vector its expected line, and the same line as each other on any block.

import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  canonicalLine,
  checkVectorFile,
  expectLine,
  FORMATS,
  fromHex,
  harnessInputLine,
  maskToFormats,
  parseToa,
  toHex,
  toMask,
  type Vector,
} from '../../src/wire/index.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
// make builds the harness under $BUILD/c (default build/ in the repository).
const harness = join(process.env.BUILD ?? join(root, 'build'), 'c/vectors');
const vectorDir = join(root, 'test/vectors');
const ALL_MASK = (1 << FORMATS.length) - 1;

/** One harness run for many lines: spawning per line would dominate the test's time. */
function runC(lines: readonly string[]): string[] {
  const r = spawnSync(harness, { input: lines.map((l) => `${l}\n`).join(''), encoding: 'utf8' });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${harness} exited ${r.status}: ${r.stderr}`);
  const out = r.stdout.split('\n');
  if (out.pop() !== '') throw new Error(`${harness}: last line has no newline`);
  if (out.length !== lines.length) {
    throw new Error(`${harness} answered ${out.length} lines for ${lines.length}`);
  }
  return out;
}

function harnessLine(block: Uint8Array, mask: number): string {
  return `${maskToFormats(mask).join(',')} ${toHex(block)}`;
}

function loadVectors(): { id: string; v: Vector }[] {
  const files = readdirSync(vectorDir)
    .filter((f) => f.endsWith('.json'))
    .sort();
  return files.flatMap((file) => {
    const json = JSON.parse(readFileSync(join(vectorDir, file), 'utf8')) as unknown;
    return checkVectorFile(json, file).map((v) => ({ id: `${file}: ${v.name}`, v }));
  });
}

// Deterministic (mulberry32) so a failure reproduces; the seed is in the test name.
function rng(seed: number): (n: number) => number {
  let a = seed >>> 0;
  return (n) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) % n) | 0;
  };
}

// Blocks near the formats' edges: claimed kinds at every length close to a known one, ExID
// and version bytes, ordinary options, garbage, truncation and overlong blocks.
function randomBlock(r: (n: number) => number): Uint8Array {
  const bytes: number[] = [];
  const kinds = [254, 253, 252, 200, 28, 2, 4, 8, r(256)];
  const lens = [0, 1, 2, 3, 4, 6, 7, 8, 9, 14, 16, 18, 19, 20, 21, r(42)];
  for (let n = r(5); n >= 0; n--) {
    const pick = r(10);
    if (pick === 0) bytes.push(1);
    else if (pick === 1 && r(4) === 0) bytes.push(0);
    else {
      const kind = kinds[r(kinds.length)] ?? 254;
      const len = lens[r(lens.length)] ?? 8;
      const opt = [kind, len];
      for (let i = 2; i < len; i++) opt.push(r(4) === 0 ? 0 : r(256));
      if (len >= 4 && r(3) === 0) opt.splice(2, 2, 0x03, 0x48);
      if (len >= 3 && kind === 28 && r(2) === 0) opt[2] = 1;
      bytes.push(...opt);
    }
  }
  const cut = r(3) === 0 ? r(bytes.length + 1) : bytes.length;
  return Uint8Array.from(bytes.slice(0, r(20) === 0 ? cut + 40 : Math.min(cut, 40)));
}

function expectSame(inputs: { line: string; block: Uint8Array; mask: number }[]): void {
  const c = runC(inputs.map((x) => x.line));
  const bad: string[] = [];
  inputs.forEach((x, i) => {
    const ts = canonicalLine(parseToa(x.block, x.mask));
    if (c[i] !== ts) bad.push(`  ${x.line}\n    C:  ${c[i]}\n    TS: ${ts}`);
  });
  if (bad.length) {
    assert.unreachable(
      `${bad.length} of ${inputs.length} differ, first ones:\n${bad.slice(0, 5).join('\n')}`,
    );
  }
}

if (!existsSync(harness)) {
  test('C harness is built', () => {
    assert.unreachable(`${harness} is missing: run make build`);
  });
} else {
  const vectors = loadVectors();
  const lines = vectors.map(({ v }) => harnessInputLine(v));
  let cLines: string[] | undefined;
  const cOut = (i: number): string | undefined => {
    cLines ??= runC(lines);
    return cLines[i];
  };

  test('the corpus has vectors', () => {
    assert.ok(vectors.length > 0, `no vectors in ${vectorDir}/*.json`);
  });

  vectors.forEach(({ id, v }, i) => {
    test(id, () => {
      const c = cOut(i);
      assert.is(c, expectLine(v.expect), `C on "${lines[i]}"`);
      const ts = canonicalLine(parseToa(fromHex(v.hex), v.formats));
      assert.is(c, ts, `C vs TS on "${lines[i]}"`);
    });
  });

  // Every prefix of every vector block under its own set, the default set and all formats.
  test('C and TS agree on vector prefixes', () => {
    const inputs = vectors.flatMap(({ v }) => {
      const block = fromHex(v.hex);
      const masks = [toMask(v.formats), toMask(), ALL_MASK];
      return masks.flatMap((mask) =>
        Array.from({ length: block.length + 1 }, (_, n) => {
          const b = block.subarray(0, n);
          return { line: harnessLine(b, mask), block: b, mask };
        }),
      );
    });
    expectSame(inputs);
  });

  const SEED = 0x70a;
  test(`C and TS agree on 20000 random blocks (seed ${SEED})`, () => {
    const r = rng(SEED);
    const inputs = Array.from({ length: 20000 }, () => {
      const block = randomBlock(r);
      const mask = r(4) === 0 ? ALL_MASK : r(ALL_MASK + 1);
      return { line: harnessLine(block, mask), block, mask };
    });
    expectSame(inputs);
  });
}

test.run();
