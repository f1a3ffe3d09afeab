// Network namespaces for the lab: everything the peer sends stays inside one of these.
// Uses `ip` from iproute2; every namespace created here is deleted at the latest on process exit.
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

const run = promisify(execFile);
const live = new Set<string>();

process.on('exit', () => {
  for (const ns of live) {
    try {
      execFileSync('ip', ['netns', 'delete', ns], { stdio: 'ignore' });
    } catch {
      // Best effort: the process is going away either way.
    }
  }
});

/** Run `ip ARGS...`; the error names the command and ip's own message. */
export async function ip(...args: string[]): Promise<string> {
  try {
    const { stdout } = await run('ip', args);
    return stdout;
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string };
    if (err.code === 'ENOENT') throw new Error('ip not found: install iproute2');
    throw new Error(`ip ${args.join(' ')}: ${(err.stderr ?? err.message).trim()} (needs root)`);
  }
}

/** Create a namespace (a fresh unique name unless given) with its loopback up. */
export async function createNetns(name = `toalab-${randomBytes(4).toString('hex')}`): Promise<string> {
  await ip('netns', 'add', name);
  live.add(name);
  await ip('-n', name, 'link', 'set', 'lo', 'up');
  return name;
}

export async function deleteNetns(name: string): Promise<void> {
  live.delete(name);
  await ip('netns', 'delete', name);
}

/** Create a namespace, run fn in it, and delete it whatever happens. */
export async function withNetns<T>(fn: (ns: string) => Promise<T>, name?: string): Promise<T> {
  const ns = await createNetns(name);
  try {
    return await fn(ns);
  } finally {
    await deleteNetns(ns);
  }
}

export interface LinkSetup {
  /** Addresses in CIDR form; IPv6 ones get `nodad` so they are usable at once. */
  addresses?: string[];
  /** Extra prefixes routed to the device, e.g. a client range beyond the link's own subnet. */
  routes?: string[];
}

/**
 * Move a device (e.g. a TUN, whose fd keeps working) into the namespace, address it and bring it
 * up. Moving drops a device's addresses, so this is the one place they are set.
 */
export async function moveLink(dev: string, ns: string, setup: LinkSetup = {}): Promise<void> {
  await ip('link', 'set', dev, 'netns', ns);
  for (const cidr of setup.addresses ?? []) {
    const v6 = cidr.includes(':');
    await ip('-n', ns, ...(v6 ? ['-6'] : []), 'addr', 'add', cidr, 'dev', dev, ...(v6 ? ['nodad'] : []));
  }
  await ip('-n', ns, 'link', 'set', dev, 'up');
  for (const prefix of setup.routes ?? []) {
    await ip('-n', ns, ...(prefix.includes(':') ? ['-6'] : []), 'route', 'add', prefix, 'dev', dev);
  }
}

/** argv prefix running a command inside the namespace. */
export function inNetns(ns: string, argv: string[]): string[] {
  return ['ip', 'netns', 'exec', ns, ...argv];
}
