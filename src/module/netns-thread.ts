// Move Node's main thread into a network namespace and back. Sockets belong to the namespace
// they were created in, so a listener made in between lives there while the rest of the process
// (children, the TUN device) stays where it was. Only the calling thread moves.
import { closeSync, openSync } from 'node:fs';
import { CLONE_NEWNET, setns } from './syscalls.js';

/** Enter /run/netns/NS; returns the function that returns to the namespace we came from. */
export function enterNetns(ns: string): () => void {
  const home = openSync(`/proc/thread-self/ns/net`, 'r');
  let target: number;
  try {
    target = openSync(`/run/netns/${ns}`, 'r');
  } catch (e) {
    closeSync(home);
    throw new Error(`network namespace ${ns}: ${(e as NodeJS.ErrnoException).code}`);
  }
  const r = setns(target, CLONE_NEWNET);
  closeSync(target);
  if (r.value < 0) {
    closeSync(home);
    throw new Error(`setns ${ns}: ${r.code}: needs CAP_SYS_ADMIN (run as root)`);
  }
  return () => {
    const back = setns(home, CLONE_NEWNET);
    closeSync(home);
    // Staying in the test namespace would put every later socket there: fail loudly.
    if (back.value < 0) throw new Error(`setns back to the original namespace failed: ${back.code}`);
  };
}
