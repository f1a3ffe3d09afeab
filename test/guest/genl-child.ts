// A separate process for test/guest/genl.test.ts: another netns (lookup), other credentials
// (setpriv), or a swap loop that runs while the test drives traffic. Prints one JSON line.
// Usage: genl-child.ts stats | set JSON | lookup JSON [N] | swap N JSON_A JSON_B
import { openToa, type ToaError } from '../../src/netlink/index.js';

const [op = '', arg = '', ...rest] = process.argv.slice(2);
const toa = await openToa();
const out = (v: unknown) => console.log(JSON.stringify(v));
try {
  if (op === 'stats') out({ ok: (await toa.stats()).length });
  else if (op === 'set') out({ ok: await toa.setConfig(JSON.parse(arg)) });
  else if (op === 'lookup') {
    const n = Number(rest[0] ?? 1);
    const t0 = process.hrtime.bigint();
    let peer: unknown;
    for (let i = 0; i < n; i++) peer = await toa.lookup(JSON.parse(arg));
    out({ ok: peer, usPerLookup: Number(process.hrtime.bigint() - t0) / 1000 / n });
  } else if (op === 'swap') {
    const lists = rest.map((l) => JSON.parse(l) as string[]);
    const n = Number(arg);
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) await toa.setConfig({ trust: lists[i % lists.length] ?? [] });
    out({ ok: n, swapsPerSecond: n / (Number(process.hrtime.bigint() - t0) / 1e9) });
  } else throw new Error(`unknown op ${op}: want stats, set, lookup or swap`);
} catch (e) {
  const err = e as ToaError;
  out({ error: { code: err.code, errno: err.errno, extack: err.extack, message: err.message } });
} finally {
  toa.close();
}
