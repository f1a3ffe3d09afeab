// Write one libFuzzer seed per vector: mask (uint16 BE) then the block bytes.
// Usage: node seed.mjs VECTORS_DIR CORPUS_DIR
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

// Bit order of test/vectors/README.md (C enum toa_format).
const FORMATS = [
  '254/8',
  '254/20',
  '253/20',
  '200/8',
  '252/8',
  '253/8',
  '28/7',
  '28/19',
  '254/16',
  '253/hostid',
  '254/hostid',
];
const DEFAULT = ['254/8', '254/20'];

const [dir, out] = process.argv.slice(2);
if (!dir || !out) throw new Error('usage: node seed.mjs VECTORS_DIR CORPUS_DIR');
mkdirSync(out, { recursive: true });

let n = 0;
for (const file of readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .sort()) {
  for (const v of JSON.parse(readFileSync(join(dir, file), 'utf8')).vectors) {
    let mask = 0;
    for (const name of v.formats ?? DEFAULT) {
      const bit = FORMATS.indexOf(name);
      if (bit < 0) throw new Error(`${file}: ${v.name}: unknown format ${name}`);
      mask |= 1 << bit;
    }
    const block = Buffer.from(v.hex.replace(/\s+/g, ''), 'hex');
    const seed = Buffer.alloc(2 + block.length);
    seed.writeUInt16BE(mask, 0);
    block.copy(seed, 2);
    writeFileSync(join(out, `seed-${String(n++).padStart(4, '0')}`), seed);
  }
}
console.log(`seed.mjs: ${n} seeds in ${out}`);
