// The lab's TUN device (src/lab/tun.ts) when its device disappears under it: deleting the network
// namespace it was moved into destroys the device, and reads then fail with EBADFD. The reader
// must stop quietly (no uncaught error killing the process) and tell waiters why.
import { closeSync, openSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createNetns, deleteNetns, moveLink, openTun } from '../../src/lab/index.js';

function why(): string | null {
  if (process.getuid?.() !== 0) return 'needs root (TUN device, network namespace)';
  try {
    closeSync(openSync('/dev/net/tun', 'r+'));
  } catch {
    return 'no /dev/net/tun';
  }
  return null;
}

const reason = why();
const tunTest = reason ? test.skip : test;
if (reason) console.log(`tun.test.ts: skipped: ${reason}`);

tunTest('the namespace holding the device is deleted: the reader stops, a waiter learns why', async () => {
  const tun = openTun();
  const ns = await createNetns();
  await moveLink(tun.name, ns, { addresses: ['198.51.100.1/24'] });
  const waiting = tun
    .next(() => false, 20000)
    .then(
      () => 'resolved',
      (e: Error) => e.message,
    );
  await deleteNetns(ns);
  const message = await waiting;
  assert.match(message, `tun ${tun.name}: the device ${tun.name} was removed`);
  assert.ok(tun.closed);
  await tun.close();
});

test.run();
