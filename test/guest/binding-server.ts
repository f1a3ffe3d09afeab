// Runs inside the guest's server namespace for binding.test.ts: a Node server that answers, per
// accepted connection, originalPeer() through each binding (addon and ffi-rs) at both getsockopt
// levels, and the raw getsockopt. One JSON line per connection on stdout.
import net from 'node:net';
import { loadAddon } from '../../src/binding/addon.js';
import { loadFfi } from '../../src/binding/ffi.js';
import { bindingKind, originalPeer } from '../../src/binding/index.js';
import { lookup } from '../../src/binding/peer.js';
import { IPPROTO_IP, IPPROTO_IPV6, type Syscalls } from '../../src/binding/syscalls.js';

const ports = JSON.parse(process.argv[2] ?? '{}') as { v4: number; v6: number; dual: number };
const bindings = [loadAddon(), loadFfi()].map((b) => {
  if (b instanceof Error) throw b;
  return b;
});
const out = (o: object) => process.stdout.write(`${JSON.stringify(o)}\n`);
const attempt = (f: () => unknown) => {
  try {
    return f();
  } catch (e) {
    return { error: (e as Error).message };
  }
};

function answer(s: net.Socket): void {
  const fd = (s as unknown as { _handle: { fd: number } })._handle.fd;
  const per = (sys: Syscalls) => ({
    fd: attempt(() => lookup(sys, fd)),
    ipv6Level: s.localFamily === 'IPv6' ? attempt(() => lookup(sys, fd, IPPROTO_IPV6)) : null,
    ipLevel: attempt(() => lookup(sys, fd, IPPROTO_IP)),
    shortLen: sys.peerInfo(fd, IPPROTO_IP, Buffer.alloc(47)),
  });
  const first = originalPeer(s);
  out({
    ev: 'connection',
    localPort: s.localPort,
    remotePort: s.remotePort,
    kind: bindingKind(),
    cached: first !== null && originalPeer(s) === first,
    peer: first,
    addon: per(bindings[0] as Syscalls),
    ffi: per(bindings[1] as Syscalls),
  });
  s.on('error', () => {});
  s.on('close', () => out({ ev: 'closed', remotePort: s.remotePort, after: attempt(() => originalPeer(s)) }));
}

let up = 0;
const listeners = [
  { host: '0.0.0.0', port: ports.v4, ipv6Only: false },
  { host: '::', port: ports.v6, ipv6Only: true },
  { host: '::', port: ports.dual, ipv6Only: false },
];
for (const l of listeners)
  net.createServer(answer).listen(l, () => {
    if (++up === listeners.length) out({ ev: 'listening' });
  });
process.stdin.on('end', () => process.exit(0)).resume();
