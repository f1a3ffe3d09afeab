// README's binding examples are the files under examples/, verbatim; each type-checks against dist/
// (as tcp-toa/binding, the package's own export) and answers a real loopback connection.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const EXAMPLES = ['net', 'http', 'middleware'];
const readme = readFileSync('README.md', 'utf8');
const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]);

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as net.AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

/** Runs build/examples/NAME.js on a free port until it accepts; the port and the process. */
async function start(name: string): Promise<{ port: number; app: ChildProcess; out: () => string }> {
  const port = await freePort();
  let out = '';
  const app = spawn(process.execPath, [`build/examples/${name}.js`], {
    env: { ...process.env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  app.stdout?.on('data', (d) => {
    out += d;
  });
  for (let i = 0; i < 100; i++) {
    const up = await new Promise<boolean>((r) =>
      net
        .connect(port, '127.0.0.1', function (this: net.Socket) {
          this.destroy();
          r(true);
        })
        .on('error', () => r(false)),
    );
    if (up) return { port, app, out: () => out };
    await new Promise((r) => setTimeout(r, 50));
  }
  app.kill();
  throw new Error(`examples/${name}.ts did not listen on ${port}`);
}

function get(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/' }, (res) => {
        let body = '';
        res.on('data', (d) => {
          body += d;
        });
        res.on('end', () => resolve(body));
      })
      .on('error', reject);
  });
}

test('README shows every example file verbatim', () => {
  for (const name of EXAMPLES)
    assert.ok(
      blocks.includes(readFileSync(`examples/${name}.ts`, 'utf8')),
      `examples/${name}.ts not in README`,
    );
});

test('the examples type-check and build against dist/ (tcp-toa/binding)', () => {
  assert.ok(existsSync('dist/src/binding/index.d.ts'), 'dist/ is not built: run npm run build (make build)');
  execFileSync('npx', ['tsc', '-p', 'examples/tsconfig.json'], { stdio: 'pipe' });
});

test('net: logs the client via peer (no toa.ko here)', async () => {
  const { port, app, out } = await start('net');
  try {
    const c = net.connect(port, '127.0.0.1');
    const hello = await new Promise<string>((r) => c.once('data', (d) => r(String(d))));
    c.destroy();
    assert.is(hello, 'hello\n');
    // the readiness probe connected first: two lines, the last is this connection
    while (out().split('\n').length < 3) await new Promise((r) => setTimeout(r, 20));
    assert.match(out(), /^client (::ffff:)?127\.0\.0\.1:\d+ via peer \(lb -\)$/m);
  } finally {
    app.kill();
  }
});

test('http and the middleware: the client address', async () => {
  for (const [name, body] of [
    ['http', /^you are (::ffff:)?127\.0\.0\.1\n$/],
    ['middleware', /^you are (::ffff:)?127\.0\.0\.1 \(lb -\)\n$/],
  ] as const) {
    const { port, app } = await start(name);
    try {
      assert.match(await get(port), body, name);
    } finally {
      app.kill();
    }
  }
});

test.run();
