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

/** Runs build/examples/NAME.js on a free port; its port, the process and its stdout so far. */
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
  return { port, app, out: () => out };
}

/** f() again while the example is not listening yet (ECONNREFUSED), for up to 5 s. */
async function whenUp<T>(f: () => Promise<T>): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await f();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ECONNREFUSED' || i === 100) throw e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

function hello(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    net
      .connect(port, '127.0.0.1')
      .on('data', (d) => {
        got += d;
      })
      .on('end', () => resolve(got))
      .on('error', reject);
  });
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
    assert.is(await whenUp(() => hello(port)), 'hello\n');
    while (!out().includes('\n')) await new Promise((r) => setTimeout(r, 20));
    assert.match(out(), /^client (::ffff:)?127\.0\.0\.1:\d+ via peer \(lb -\)\n$/);
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
      assert.match(await whenUp(() => get(port)), body, name);
    } finally {
      app.kill();
    }
  }
});

test.run();
