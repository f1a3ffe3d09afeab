// `make bench`: originalPeer() per-call cost, on the host (loopback, no module: getsockopt answers
// ENOPROTOOPT) or, with --guest in a lab guest, on a TOA connection through toa.ko. Prints the
// figures and the ratios the issue sets as goals. Not a timed test.
import { execFileSync, spawn } from 'node:child_process';
import net from 'node:net';
import { createInterface } from 'node:readline';
import { connect, createNetns, deleteNetns, inNetns, moveLink, openTun } from '../../src/lab/index.js';
import { encodeOptions, encodeToa } from '../../src/wire/index.js';

const guest = process.argv.includes('--guest');
const where = guest ? `guest ${process.env.TOA_KVER ?? ''}`.trim() : 'host';

type Spread = [number, number];
interface Figures {
  peer: { via: string };
  getsockoptResult: number;
  bareGetpeername: number;
  bareGetpeernameSpread: Spread;
  bareGetsockopt: number;
  bareGetsockoptSpread: Spread;
  bareThreaded: number;
  bareThreadedSpread: Spread;
  addonRaw: number;
  addonRawSpread: Spread;
  addon: number;
  addonSpread: Spread;
  ratio: number;
  ratioSpread: Spread;
  addonAlternating?: number;
  addonAlternatingSpread?: Spread;
  ffi: number;
  ffiSpread: Spread;
  addonGetsockopt: number;
  addonGetsockoptSpread: Spread;
  cached: number;
  cachedSpread: Spread;
  remoteAddress: number;
  remoteAddressSpread: Spread;
}

/** Starts binding-app.ts (through `wrap`, e.g. ip netns exec), connects with `dial`, its figures. */
export async function measure(
  listen: string,
  dial: (port: number) => Promise<() => void>,
  wrap = (a: string[]) => a,
  conns = 1,
) {
  const [cmd = 'node', ...args] = wrap([
    process.execPath,
    '--import',
    'tsx',
    'test/bench/binding-app.ts',
    listen,
    String(conns),
  ]);
  const app = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: app.stdout as NodeJS.ReadableStream })[Symbol.asyncIterator]();
  const first = String((await lines.next()).value);
  const port = Number(first.split(' ')[1]);
  const hangUp = await dial(port);
  const figures = JSON.parse(String((await lines.next()).value)) as Figures;
  hangUp();
  return figures;
}

/** "median ns [min-max]" */
function ns(x: number, spread: Spread | undefined, digits = 0): string {
  const [lo = x, hi = x] = spread ?? [];
  return `${x.toFixed(digits)} ns [${lo.toFixed(digits)}-${hi.toFixed(digits)}]`.padEnd(24);
}

export function report(f: Figures, label: string): void {
  const x = (a: number) => `${(a / f.bareGetpeername).toFixed(2)}x getpeername`;
  console.log(
    `bench binding ${label}: via ${f.peer.via}, getsockopt ${f.getsockoptResult}; median [min-max] of ${process.env.BENCH_ROUNDS ?? 9} rounds`,
  );
  console.log(`  bare getpeername (C)      ${ns(f.bareGetpeername, f.bareGetpeernameSpread).trim()}`);
  console.log(`  bare getsockopt (C)       ${ns(f.bareGetsockopt, f.bareGetsockoptSpread).trim()}`);
  console.log(
    `  getpeername, C, 2 threads ${ns(f.bareThreaded, f.bareThreadedSpread)} ${x(f.bareThreaded)} (a threaded process, as every Node one is)`,
  );
  console.log(
    `  addon lookup, no decode   ${ns(f.addonRaw, f.addonRawSpread)} ${x(f.addonRaw)} (originalPeer's N-API call and syscalls alone)`,
  );
  console.log(
    `  originalPeer addon        ${ns(f.addon, f.addonSpread)} ${f.ratio.toFixed(2)}x getpeername, median of per-round ratios [${f.ratioSpread.map((r) => r.toFixed(2)).join('-')}] (goal <= 1.3x)`,
  );
  if (f.addonAlternating !== undefined)
    console.log(
      `  addon, 2 clients in turn  ${ns(f.addonAlternating, f.addonAlternatingSpread)} ${x(f.addonAlternating)} (no address text reused)`,
    );
  console.log(`  originalPeer ffi-rs       ${ns(f.ffi, f.ffiSpread)} ${x(f.ffi)}`);
  console.log(
    `  addon getsockopt alone    ${ns(f.addonGetsockopt, f.addonGetsockoptSpread)} ${(f.addonGetsockopt / f.bareGetsockopt).toFixed(2)}x C getsockopt`,
  );
  console.log(`  originalPeer cached       ${ns(f.cached, f.cachedSpread, 1)} (goal <= 100 ns)`);
  console.log(`  socket.remoteAddress      ${ns(f.remoteAddress, f.remoteAddressSpread, 1).trim()}`);
}

if (!guest) {
  const f = await measure(
    '127.0.0.1:0',
    async (port) => {
      const cs = ['127.0.0.1', '127.0.0.2'].map((localAddress) =>
        net.connect({ port, host: '127.0.0.1', localAddress }).on('error', () => {}),
      );
      return () => {
        for (const c of cs) c.destroy();
      };
    },
    undefined,
    2,
  );
  report(f, where);
}

if (guest) {
  const tun = openTun();
  const ns = await createNetns();
  await moveLink(tun.name, ns, { addresses: ['198.51.100.1/24'] });
  execFileSync('insmod', [process.env.TOA_KO ?? '']);
  try {
    const f = await measure(
      '198.51.100.1:9100',
      async (port) => {
        const c = await connect({
          tun,
          src: { address: '198.51.100.2', port: 40000 },
          dst: { address: '198.51.100.1', port },
          ackOptions: encodeOptions([encodeToa({ format: '254/8', address: '192.0.2.1', port: 1 })]),
        });
        return () => c.abort();
      },
      (a) => inNetns(ns, a),
    );
    report(f, where);
  } finally {
    execFileSync('rmmod', ['toa']);
    await tun.close();
    await deleteNetns(ns);
  }
}
