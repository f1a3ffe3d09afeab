// The shared vector corpus (test/vectors/*.json) and the C harness line protocol, so the
// TypeScript tests, the C harness and the parity test read and write them one way.

import { textToAddress } from './addr.js';
import { DEFAULT_FORMATS, type FormatName, isFormatName } from './formats.js';
import { fromHex, toHex } from './hex.js';
import { REASONS, type Reason, type Toa, type ToaResult } from './toa.js';

export type ExpectToa = Omit<Toa, 'kind'>;
export type Expect = 'none' | { error: Reason } | ExpectToa;
export type Vector = { name: string; hex: string; formats?: FormatName[]; expect: Expect };
export type VectorFile = { description: string; vectors: Vector[] };

/** The vector `expect` form of a decoder result (no kind, no error offset). */
export function toExpect(result: ToaResult): Expect {
  if (result.status === 'none') return 'none';
  if (result.status === 'error') return { error: result.reason };
  const { kind: _, ...rest } = result.toa;
  return rest;
}

/** The C harness output line for a decoder result: `none`, `error REASON` or `toa ...`. */
export function canonicalLine(result: ToaResult): string {
  return expectLine(toExpect(result));
}

/** The C harness output line a vector expects. */
export function expectLine(expect: Expect): string {
  if (expect === 'none') return 'none';
  if ('error' in expect) return `error ${expect.error}`;
  const { format, family, address, port, offset, vip } = expect;
  const line = `toa ${format} ${family} ${toHex(textToAddress(address))} ${port ?? '-'} ${offset}`;
  return vip ? `${line} vip ${toHex(textToAddress(vip.address))} ${vip.port}` : line;
}

/** The C harness input line for a vector: `FORMATS HEX`, `-` standing for the default set. */
export function harnessInputLine(vector: Pick<Vector, 'hex' | 'formats'>): string {
  const formats = vector.formats ? vector.formats.join(',') : '-';
  return `${formats} ${toHex(fromHex(vector.hex))}`;
}

export function vectorFormats(vector: Pick<Vector, 'formats'>): readonly FormatName[] {
  return vector.formats ?? DEFAULT_FORMATS;
}

/**
 * Checks the shape of a parsed vector file and returns its vectors; throws naming the vector
 * at fault, so a typo in the corpus is found before a decoder is blamed.
 */
export function checkVectorFile(json: unknown, source = 'vector file'): Vector[] {
  const file = json as Partial<VectorFile> | null;
  if (!file || typeof file.description !== 'string' || !Array.isArray(file.vectors)) {
    throw new Error(`${source}: expected {"description": string, "vectors": [...]}`);
  }
  return file.vectors.map((v, i) => {
    const where = `${source}: vector ${i} (${JSON.stringify((v as Partial<Vector>)?.name)})`;
    const fail = (what: string): never => {
      throw new Error(`${where}: ${what}`);
    };
    if (typeof v?.name !== 'string' || v.name === '') fail('name must be a non-empty string');
    if (typeof v.hex !== 'string') fail('hex must be a string');
    try {
      fromHex(v.hex);
    } catch (e) {
      fail((e as Error).message);
    }
    if (v.formats !== undefined) {
      if (!Array.isArray(v.formats)) fail('formats must be an array of format names');
      for (const f of v.formats) if (typeof f !== 'string' || !isFormatName(f)) fail(`unknown format ${f}`);
    }
    checkExpect(v.expect, fail);
    return v;
  });
}

function checkExpect(e: unknown, fail: (what: string) => never): void {
  if (e === 'none') return;
  if (typeof e !== 'object' || e === null) fail('expect must be "none", {error} or a TOA');
  const x = e as Record<string, unknown>;
  if ('error' in x) {
    if (!(REASONS as readonly unknown[]).includes(x.error) || Object.keys(x).length !== 1)
      fail(`bad error expect ${JSON.stringify(e)}`);
    return;
  }
  const keys = ['format', 'family', 'address', 'port', 'offset', ...('vip' in x ? ['vip'] : [])];
  if (Object.keys(x).sort().join() !== keys.sort().join())
    fail(`a TOA expect has exactly the keys ${keys.join(', ')}`);
  if (typeof x.format !== 'string' || !isFormatName(x.format)) fail(`unknown format ${String(x.format)}`);
  if (x.family !== 4 && x.family !== 6) fail('family must be 4 or 6');
  if (typeof x.address !== 'string') fail('address must be a string');
  if (x.port !== null && typeof x.port !== 'number') fail('port must be a number or null');
  if (typeof x.offset !== 'number') fail('offset must be a number');
}
