// originalPeer() on the host, where toa.ko is not loaded: the plain peer (via 'peer') through both
// bindings, the errors an app can hit, TOA_BINDING, the wire decoding, and the types a consumer sees.
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync } from 'node:fs';
import http2 from 'node:http2';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadAddon } from '../../src/binding/addon.js';
import { decodePeerInfo } from '../../src/binding/decode.js';
import { loadFfi } from '../../src/binding/ffi.js';
import { bindingKind, originalPeer } from '../../src/binding/index.js';
import { lookup } from '../../src/binding/peer.js';
import { type Syscalls, TOA_PEER_INFO_SIZE } from '../../src/binding/syscalls.js';

const must = (b: Syscalls | Error): Syscalls => {
  if (b instanceof Error) throw b;
  return b;
};
const fdOf = (s: net.Socket | net.Server) => (s as unknown as { _handle: { fd: number } })._handle.fd;

/** An accepted loopback connection on `host`; the server-side socket and a cleanup. */
async function accepted(host: string): Promise<{ s: net.Socket; close: () => void }> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, host, r));
  const { port } = server.address() as net.AddressInfo;
  const got = new Promise<net.Socket>((r) => server.once('connection', r));
  const client = net.connect(port, host);
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

function child(env: Record<string, string>, code: string) {
  return spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    encoding: 'utf8',
    env: { ...process.env, FORCE_COLOR: '0', ...env }, // uvu forces colours; the log is matched as text
  });
}

test('the addon is built and is what loads by default', () => {
  assert.is(bindingKind(), process.env.TOA_BINDING === 'ffi' ? 'ffi' : 'addon');
});

for (const host of ['127.0.0.1', '::1']) {
  test(`${host}: via peer, equal through the addon and ffi-rs, by socket and by fd`, async () => {
    const { s, close } = await accepted(host);
    try {
      const expected = { address: s.remoteAddress, port: s.remotePort, family: s.remoteFamily, via: 'peer' };
      const addon = must(loadAddon());
      const ffi = must(loadFfi());
      assert.equal(lookup(addon, fdOf(s)), expected, 'getpeername through the addon');
      assert.equal(lookup(ffi, fdOf(s)), expected, 'getpeername through ffi-rs');
      assert.equal(originalPeer(fdOf(s)), expected);
      const first = originalPeer(s);
      assert.equal(first, expected);
      assert.ok(originalPeer(s) === first, 'cached per socket');
    } finally {
      close();
    }
  });
}

test('a TLS socket (TLSWrap handle) and an http2 req.socket (a proxy) answer like their remoteAddress', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'toa-tls-'));
  const [key, cert] = [join(dir, 'k.pem'), join(dir, 'c.pem')];
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'].concat([
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
    ]),
    { stdio: 'ignore' },
  );
  const opts = { key: readFileSync(key), cert: readFileSync(cert) };
  const seen = await new Promise<[unknown, unknown]>((resolve, reject) => {
    const server = tls.createServer(opts, (s) => {
      resolve([
        originalPeer(s),
        { address: s.remoteAddress, port: s.remotePort, family: 'IPv4', via: 'peer' },
      ]);
      s.destroy();
      server.close();
    });
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false }).on('error', () => {});
    });
    server.on('error', reject);
  });
  assert.equal(seen[0], seen[1]);
  const h2 = await new Promise<[unknown, unknown]>((resolve) => {
    let answer: [unknown, unknown] = [null, null];
    const server = http2.createServer((req, res) => {
      const s = req.socket as unknown as net.Socket;
      answer = [
        originalPeer(s),
        { address: s.remoteAddress, port: s.remotePort, family: 'IPv4', via: 'peer' },
      ];
      res.end();
    });
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      const c = http2.connect(`http://127.0.0.1:${port}`);
      const r = c.request({ ':path': '/' });
      r.resume();
      r.on('end', () => {
        c.close();
        server.close();
        resolve(answer);
      });
    });
  });
  assert.equal(h2[0], h2[1]);
});

test('a destroyed socket throws a clear error, even once cached', async () => {
  const { s, close } = await accepted('127.0.0.1');
  originalPeer(s);
  close();
  assert.throws(() => originalPeer(s), /closed or destroyed/);
});

test('a bad fd or a file throws; a listening socket (no peer) is null', async () => {
  assert.throws(() => originalPeer(1 << 20), /fd 1048576 is not an open socket/);
  const file = openSync(process.execPath, 'r');
  try {
    assert.throws(() => originalPeer(file), /is not an open socket/);
  } finally {
    closeSync(file);
  }
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  assert.is(originalPeer(fdOf(server)), null);
  server.close();
});

test('TOA_BINDING forces a binding, NODE_DEBUG=toa says which, a bad value says what to use', () => {
  const code = "const b = await import('./src/binding/index.ts'); console.log(b.bindingKind());";
  const ffi = child({ TOA_BINDING: 'ffi', NODE_DEBUG: 'toa' }, code);
  assert.is(ffi.stdout.trim(), 'ffi', ffi.stderr);
  assert.match(ffi.stderr, /TOA \d+: binding: ffi/, JSON.stringify(ffi.stderr));
  assert.is(child({ TOA_BINDING: 'addon' }, code).stdout.trim(), 'addon');
  const bad = child({ TOA_BINDING: 'napi' }, code);
  assert.is.not(bad.status, 0);
  assert.match(bad.stderr, /TOA_BINDING=napi is not a binding: use addon or ffi, or unset it/);
});

for (const kind of ['addon', 'ffi']) {
  test(`${kind}, toa.ko absent: one getsockopt, then getpeername alone for 1 s, then one probe (strace)`, () => {
    const r = spawnSync(
      'strace',
      ['-f', '-qq', '-e', 'trace=getsockopt,getpeername', '-e', 'signal=none'].concat([
        process.execPath,
        '--import',
        'tsx',
        'test/host/fixtures/lookups.ts',
      ]),
      { encoding: 'utf8', env: { ...process.env, TOA_BINDING: kind } },
    );
    assert.is(r.status, 0, r.stderr);
    assert.is(r.stdout.trim(), 'peer');
    const calls = r.stderr.split('\n');
    // 0x5440 = TOA_SO_GET_PEER, which strace prints in decimal
    const probes = calls.filter((l) =>
      /getsockopt\(\d+, SOL_IP, 0x5440|getsockopt\(\d+, SOL_IP, 21568/.test(l),
    );
    assert.is(probes.length, 2, probes.join('\n'));
    assert.ok(probes.every((l) => /ENOPROTOOPT/.test(l)));
    const names = calls.filter((l) => /getpeername\(/.test(l) && !/unfinished|resumed/.test(l));
    assert.ok(names.length >= 200, `${names.length} getpeername`);
  });
}

test('decodePeerInfo: v1 layout, no-port formats give port 0, unknown versions are refused', () => {
  const b = Buffer.alloc(TOA_PEER_INFO_SIZE);
  b.writeUInt16LE(1, 0);
  b.writeUInt16LE(48, 2);
  b.set([10, 2, 7, 1], 4); // client AF_INET6, LB AF_INET, format 28/19, seen in the SYN
  b.writeUInt16BE(1234, 8);
  b.writeUInt16BE(40000, 10);
  b.set([0x20, 0x01, 0x0d, 0xb8], 16);
  b.set([198, 51, 100, 2], 32);
  assert.equal(decodePeerInfo(b, 48), {
    address: '2001:db8::',
    port: 0,
    family: 'IPv6',
    via: 'toa',
    lb: { address: '198.51.100.2', port: 40000, family: 'IPv4' },
    format: '28/19',
    seenIn: 'syn',
  });
  b[12] = 1; // TOA_PEER_HAS_PORT
  assert.is(decodePeerInfo(b, 48).port, 1234);
  b.writeUInt16LE(0, 0);
  assert.throws(() => decodePeerInfo(b, 48), /v0 of 48 bytes/);
});

test('types: a consumer importing tcp-toa/binding type-checks against dist/', () => {
  assert.ok(existsSync('dist/src/binding/index.d.ts'), 'dist/ is not built: run npm run build (make build)');
  execFileSync('npx', ['tsc', '-p', 'test/host/fixtures/consumer/tsconfig.json'], { stdio: 'pipe' });
});

test.run();
