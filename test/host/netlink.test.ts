// src/netlink without a kernel: request bytes against golden bytes written from
// kmod/uapi/toa_genl.h by hand, and a GET_STATS reply captured from toa.ko in the lab.
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  decodeStats,
  encodeLookup,
  encodeSetConfig,
  parseCidr,
  parseNetlinkError,
  requestPayload,
  ToaError,
  uapi,
} from '../../src/netlink/index.js';
import { fromHex, toHex } from '../../src/wire/index.js';

const hex = (s: string) => s.replace(/\s+|#[^\n]*/g, '');

test('SET_CONFIG: golden bytes', () => {
  const payload = requestPayload(
    uapi.Cmd.SET_CONFIG,
    encodeSetConfig({ trust: ['198.51.100.0/24', '2001:db8::/32'], formats: ' 254/8 ', enabled: false }),
  );
  const golden = hex(`
    03 01 0000                          # genlmsghdr: cmd SET_CONFIG, version 1
    4800 0280                           # TRUST, nested (0x8000), 72 bytes
      1c00 0180                         #   CIDR, nested, 28 bytes
        0500 0100 02 000000             #     FAMILY u8 AF_INET, padded to 4
        0800 0200 c6336400              #     ADDR 198.51.100.0
        0500 0300 18 000000             #     PREFIX 24
      2800 0180                         #   CIDR, nested, 40 bytes
        0500 0100 0a 000000             #     FAMILY AF_INET6
        1400 0200 20010db8 00000000 00000000 00000000
        0500 0300 20 000000             #     PREFIX 32
    0a00 0300 3235342f3800 0000         # FORMATS "254/8\\0", padded
    0500 0400 00 000000                 # ENABLED 0
  `);
  assert.is(toHex(payload), golden);
});

test('LOOKUP: golden bytes; ports in host order', () => {
  const attrs = encodeLookup({
    local: { address: '198.51.100.1', port: 8080 },
    remote: { address: '198.51.100.2', port: 40000 },
  });
  const golden = hex(`
    2c00 0880                           # TUPLE, nested, 44 bytes
      0500 0100 02 000000               #   FAMILY AF_INET
      0800 0200 c6336401                #   LOCAL_ADDR
      0600 0300 901f 0000               #   LOCAL_PORT 8080 (0x1f90, little endian)
      0800 0400 c6336402                #   REMOTE_ADDR
      0600 0500 409c 0000               #   REMOTE_PORT 40000
  `);
  assert.is(toHex(attrs), golden);
  assert.throws(
    () => encodeLookup({ local: { address: '::1', port: 1 }, remote: { address: '127.0.0.1', port: 2 } }),
    /different families/,
  );
  assert.throws(
    () => encodeLookup({ local: { address: '::1', port: 0 }, remote: { address: '::1', port: 2 } }),
    /give 1\.\.65535/,
  );
});

test('CIDRs and other bad input are refused before anything is encoded', () => {
  assert.equal(parseCidr('198.51.100.7'), { family: 4, address: Uint8Array.of(198, 51, 100, 7), prefix: 32 });
  assert.is(parseCidr('2001:db8::/0').prefix, 0);
  for (const bad of [
    '198.51.100.0/33',
    '198.51.100/24',
    'host/8',
    '::/129',
    '1.2.3.4/8/1',
    '1.2.3.4/',
    '1.2.3.4/ 8',
  ])
    assert.throws(() => parseCidr(bad), /trust CIDR .*e\.g\./, bad);
  assert.throws(() => encodeSetConfig({ trust: ['192.0.2.0/24', 'nope'] }), /"nope"/);
  assert.throws(() => encodeSetConfig({ formats: '254/8,254/9' }), /unknown TOA format "254\/9"/);
  assert.throws(() => encodeSetConfig({}), /nothing to change/);
  // an empty trust list is a real value: any source
  assert.is(toHex(encodeSetConfig({ trust: [] })), '04000280');
});

test('GET_STATS: a reply captured from toa.ko decodes to the /proc/net/toa_stats lines', () => {
  const raw = fromHex(readFileSync(new URL('fixtures/genl-stats-6.1.hex', import.meta.url), 'utf8').trim());
  const stats = decodeStats(raw);
  assert.is(stats.length, 37);
  assert.equal(
    stats.map((s) => s.id),
    [...Array(37).keys()],
  );
  const names = stats.map((s) => s.name);
  assert.equal(names.slice(0, 6), [
    'segments_parsed',
    'toa_v4',
    'toa_v6',
    'toa_nat64',
    'toa_254/8',
    'toa_254/20',
  ]);
  assert.equal(names.slice(-3), ['stash_full', 'stash_alloc_failed', 'stash_entries']);
  const v = Object.fromEntries(stats.map((s) => [s.name, s.value]));
  assert.is(v.toa_v4, CAPTURED.toa_v4);
  assert.is(v['toa_254/8'], CAPTURED['toa_254/8']);
  assert.is(v.segments_parsed, CAPTURED.segments_parsed);
  assert.is(v.untrusted, 0);
  assert.throws(() => decodeStats(raw.subarray(0, 50)), /bad length/);
});

test('NLMSG_ERROR: errno and the extack message; ToaError says what to do', () => {
  // nlmsgerr: error -EPERM, the request's header (capped), then NLMSGERR_ATTR_MSG
  const msg = 'needs CAP_NET_ADMIN';
  const tlv = new Uint8Array(4 + ((msg.length + 1 + 3) & ~3));
  new DataView(tlv.buffer).setUint16(0, 4 + msg.length + 1, true);
  new DataView(tlv.buffer).setUint16(2, 1, true);
  tlv.set(new TextEncoder().encode(msg), 4);
  const head = new Uint8Array(20);
  new DataView(head.buffer).setInt32(0, -1, true);
  new DataView(head.buffer).setUint32(4, 40, true);
  const data = new Uint8Array([...head, ...tlv]);
  const e = parseNetlinkError(data, 0x300);
  assert.equal(e, { errno: 1, extack: msg });
  assert.equal(parseNetlinkError(data, 0), { errno: 1 });
  const err = new ToaError('setConfig', e);
  assert.is(err.code, 'EPERM');
  assert.match(
    err.message,
    /TOA setConfig: EPERM: needs CAP_NET_ADMIN: run as root \(kernel: needs CAP_NET_ADMIN\)/,
  );
});

/** Values in the captured reply (test/guest/genl.test.ts, one TOA connection before it). */
const CAPTURED: Record<string, number> = { toa_v4: 1, 'toa_254/8': 1, segments_parsed: 1 };

test.run();
