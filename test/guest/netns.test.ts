// Runs inside a lab guest (test/vm/boot.sh): two network namespaces joined by a veth pair, a Node
// TCP server in one and a client in the other; the server must see the client's own address.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const server = `toa-srv-${process.pid}`;
const client = `toa-cli-${process.pid}`;
const PORT = 7474;
const ip = (...args: string[]): void => {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
};

// Prints "listening", then one JSON line per connection: what the server saw of its peer.
const SERVER = `
const srv = require('node:net').createServer((s) => {
  let data = '';
  s.on('data', (d) => { data += d; });
  s.on('end', () => {
    console.log(JSON.stringify({ address: s.remoteAddress, port: s.remotePort, data }));
    s.end();
    srv.close();
  });
});
srv.listen(Number(process.argv[2]), process.argv[1], () => console.log('listening'));`;

// Sends its argument, prints its own local port once connected (as a string: a number would
// be coloured when FORCE_COLOR is set).
const CLIENT = `
const s = require('node:net').connect(Number(process.argv[2]), process.argv[1], () => {
  console.log(String(s.localPort));
  s.end(process.argv[3]);
});`;

function inNetns(ns: string, script: string, ...args: string[]): ChildProcess {
  return spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', script, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
}

type Lines = AsyncIterator<string>;
const linesOf = (child: ChildProcess): Lines =>
  createInterface({ input: child.stdout as NodeJS.ReadableStream })[Symbol.asyncIterator]();

// Node starts slowly under TCG emulation: be patient, but never hang the whole lab.
async function nextLine(lines: Lines, what: string, ms = 60_000): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no output after ${ms} ms`)), ms);
  });
  try {
    const next = await Promise.race([lines.next(), late]);
    if (next.done) throw new Error(`${what} exited before printing`);
    return next.value;
  } finally {
    clearTimeout(timer);
  }
}

test.before(() => {
  ip('netns', 'add', server);
  ip('netns', 'add', client);
  ip('link', 'add', 'toa-s', 'netns', server, 'type', 'veth', 'peer', 'name', 'toa-c', 'netns', client);
  for (const [ns, dev, v4, v6] of [
    [server, 'toa-s', '198.51.100.1/24', '2001:db8::1/64'],
    [client, 'toa-c', '198.51.100.2/24', '2001:db8::2/64'],
  ] as const) {
    ip('-n', ns, 'addr', 'add', v4, 'dev', dev);
    ip('-n', ns, 'addr', 'add', v6, 'dev', dev, 'nodad'); // usable now, not after DAD's second
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    ip('-n', ns, 'link', 'set', dev, 'up');
  }
});

test.after(() => {
  ip('netns', 'del', server); // deleting a namespace deletes its end of the veth pair, and so both
  ip('netns', 'del', client);
});

for (const [family, serverAddr, clientAddr] of [
  ['IPv4', '198.51.100.1', '198.51.100.2'],
  ['IPv6', '2001:db8::1', '2001:db8::2'],
] as const) {
  test(`${family}: the server sees the client's address, port and data`, async () => {
    const srv = inNetns(server, SERVER, serverAddr, String(PORT));
    try {
      const fromServer = linesOf(srv);
      assert.is(await nextLine(fromServer, 'server'), 'listening');
      const data = `hello over ${family}`;
      const cli = inNetns(client, CLIENT, serverAddr, String(PORT), data);
      const port = Number(await nextLine(linesOf(cli), 'client'));
      assert.equal(JSON.parse(await nextLine(fromServer, 'server')), { address: clientAddr, port, data });
    } finally {
      srv.kill();
    }
  });
}

test.run();
