// What `toa doctor` reports: which binding serves originalPeer() and why, whether toa.ko is loaded,
// and whether its lookup answers on a real (loopback) connection. Plain data; the CLI prints it.
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { addonLoadError, syscalls } from './load.js';
import { originalPeer } from './peer.js';
import { ENOENT, ENOPROTOOPT, IPPROTO_IP, TOA_PEER_INFO_SIZE } from './syscalls.js';

export interface Diagnosis {
  binding: {
    kind: 'addon' | 'ffi' | null;
    forced: string | null;
    addonError: string | null;
    error: string | null;
  };
  module: { loaded: boolean; version: string | null };
  /** getsockopt(TOA_SO_GET_PEER) on an accepted loopback connection (no TOA there). */
  lookup: { errno: number | null; answers: boolean; text: string; peerVia: string | null };
  node: { version: string; abi: string; napi: string | undefined };
  /** Binding works: originalPeer() answered the loopback peer. A missing module is a warning. */
  ok: boolean;
  warnings: string[];
}

function moduleVersion(): string | null {
  try {
    return readFileSync('/sys/module/toa/version', 'utf8').trim();
  } catch {
    return null;
  }
}

/** An accepted loopback connection: the server side, and a cleanup. */
async function loopback(): Promise<{ s: net.Socket; close: () => void }> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  const got = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1').on('error', () => {});
  const s = await got;
  return {
    s,
    close: () => {
      client.destroy();
      s.destroy();
      server.close();
    },
  };
}

function lookupText(r: number): string {
  if (r === -ENOENT) return 'toa.ko answers (ENOENT: no TOA on a loopback connection, as expected)';
  if (r === -ENOPROTOOPT) return 'toa.ko does not answer (ENOPROTOOPT: not loaded)';
  if (r >= 0) return `toa.ko answered ${r} bytes for a loopback connection (unexpected: no LB here)`;
  return `getsockopt(TOA_SO_GET_PEER) failed, errno ${-r}`;
}

export async function diagnose(): Promise<Diagnosis> {
  const version = moduleVersion();
  const warnings: string[] = [];
  const d: Diagnosis = {
    binding: { kind: null, forced: process.env.TOA_BINDING || null, addonError: null, error: null },
    module: { loaded: version !== null, version },
    lookup: { errno: null, answers: false, text: 'not tried: no binding', peerVia: null },
    node: { version: process.version, abi: process.versions.modules, napi: process.versions.napi },
    ok: false,
    warnings,
  };
  try {
    d.binding.kind = syscalls().kind;
  } catch (e) {
    d.binding.error = (e as Error).message;
  }
  d.binding.addonError = addonLoadError() ?? null;
  if (d.binding.addonError) warnings.push(`the addon did not load, ffi-rs serves: ${d.binding.addonError}`);
  if (!version)
    warnings.push('toa.ko is not loaded (/sys/module/toa absent): originalPeer() answers via peer');
  if (!d.binding.kind) return d;
  const { s, close } = await loopback();
  try {
    const fd = (s as unknown as { _handle: { fd: number } })._handle.fd;
    const r = syscalls().peerInfo(fd, IPPROTO_IP, Buffer.alloc(TOA_PEER_INFO_SIZE));
    d.lookup.errno = r < 0 ? -r : 0;
    d.lookup.answers = r === -ENOENT;
    d.lookup.text = lookupText(r);
    const peer = originalPeer(s);
    d.lookup.peerVia = peer?.via ?? null;
    d.ok = peer?.address === s.remoteAddress && peer?.port === s.remotePort;
    if (version && !d.lookup.answers) warnings.push(`toa.ko is loaded but ${d.lookup.text}`);
  } catch (e) {
    d.lookup.text = `originalPeer() failed: ${(e as Error).message}`;
  } finally {
    close();
  }
  return d;
}
