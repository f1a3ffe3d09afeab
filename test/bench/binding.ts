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

interface Figures {
  peer: { via: string };
  bareGetpeername: number;
  bareGetsockopt: number;
  getsockoptResult: number;
  addon: number;
  addonGetsockopt: number;
  ffi: number;
  cached: number;
  remoteAddress: number;
}

/** Starts binding-app.ts (through `wrap`, e.g. ip netns exec), connects with `dial`, its figures. */
export async function measure(
  listen: string,
  dial: (port: number) => Promise<() => void>,
  wrap = (a: string[]) => a,
) {
  const [cmd = 'node', ...args] = wrap([
    process.execPath,
    '--import',
    'tsx',
    'test/bench/binding-app.ts',
    listen,
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

export function report(f: Figures, label: string): void {
  const n = (x: number) => `${x.toFixed(0)} ns`;
  console.log(`bench binding ${label}: via ${f.peer.via}, getsockopt ${f.getsockoptResult}`);
  console.log(`  bare getpeername (C)     ${n(f.bareGetpeername)}`);
  console.log(`  bare getsockopt (C)      ${n(f.bareGetsockopt)}`);
  console.log(
    `  originalPeer addon       ${n(f.addon)}  ${(f.addon / f.bareGetpeername).toFixed(2)}x getpeername (goal <= 1.3x)`,
  );
  console.log(
    `  originalPeer ffi-rs      ${n(f.ffi)}  ${(f.ffi / f.bareGetpeername).toFixed(2)}x getpeername`,
  );
  console.log(
    `  addon getsockopt alone   ${n(f.addonGetsockopt)}  ${(f.addonGetsockopt / f.bareGetsockopt).toFixed(2)}x C getsockopt (the probe)`,
  );
  console.log(`  originalPeer cached      ${f.cached.toFixed(1)} ns (goal <= 100 ns)`);
  console.log(`  socket.remoteAddress     ${f.remoteAddress.toFixed(1)} ns`);
}

if (!guest) {
  const f = await measure('127.0.0.1:0', async (port) => {
    const c = net.connect(port, '127.0.0.1');
    c.on('error', () => {});
    return () => c.destroy();
  });
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
