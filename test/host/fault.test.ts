// The runner's reading of lab kernel faults (test/fault.ts), on real consoles from this lab.
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cyclesDone, textPatchingFault } from '../fault.js';
import { symbolOf, toaProbes } from '../probes.js';

const probed = toaProbes().map(symbolOf);
const fixture = (name: string) => readFileSync(`test/host/fixtures/faults/${name}.log`, 'utf8');

for (const who of ['toa', 'baseline']) {
  test(`${who}: int3 at a probed entry while the module unloads is text patching`, () => {
    const f = fixture(`${who}-6.12-int3-fentry`);
    assert.match(
      textPatchingFault(f, probed) ?? '',
      /^int3 at (inet_sock_destruct|tcp_v4_syn_recv_sock)\+0x5,/,
    );
  });
  test(`${who}: a jump to 0 under the kretprobe trampoline is text patching`, () => {
    assert.match(textPatchingFault(fixture(`${who}-6.1-rethook-null`), probed) ?? '', /address 0/);
  });
}

test('toa 6.12: the jump to 0 at tcp_v6_syn_recv_sock while toa.ko loads', () => {
  assert.ok(textPatchingFault(fixture('toa-6.12-rethook-null'), probed));
});

test('toa 6.1 and baseline 5.10: a jump to 0 at a probed function reached through a pointer', () => {
  assert.match(
    textPatchingFault(fixture('toa-6.1-null-conn-request'), probed) ?? '',
    /entry of tcp_v4_conn_request \(called by tcp_rcv_state_process through a pointer\)|entry of tcp_v6_conn_request/,
  );
  assert.match(
    textPatchingFault(fixture('baseline-5.10-null-destruct'), probed) ?? '',
    'entry of inet_sock_destruct (called by __sk_destruct through a pointer)',
  );
});

test('toa 5.10: an RCU stall spinning at tcp_v6_conn_request+0x0, not elsewhere', () => {
  assert.match(
    textPatchingFault(fixture('toa-5.10-rcu-stall-conn-request'), probed) ?? '',
    /RCU stall spinning at tcp_v6_conn_request\+0x0, the patched entry/,
  );
  const elsewhere = fixture('toa-5.10-rcu-stall-conn-request').replace(
    /tcp_v6_conn_request\+0x0/,
    'tcp_v6_conn_request+0x40',
  );
  assert.is(textPatchingFault(elsewhere, probed), null);
});

test('not text patching: a jump to 0 from a caller of nothing toa.ko probes', () => {
  const f = fixture('toa-6.1-null-conn-request').replace(
    /tcp_rcv_state_process\+0x426/,
    'tcp_sendmsg_locked+0x426',
  );
  assert.is(textPatchingFault(f, probed), null);
});

test('not text patching: int3 at a function toa.ko does not probe', () => {
  const f = fixture('toa-6.12-int3-fentry').replace(/inet_sock_destruct\+0x5/g, 'inet6_getname+0x5');
  assert.is(textPatchingFault(f, probed), null);
});

test('not text patching: int3 deep inside a probed function', () => {
  const f = fixture('toa-6.12-int3-fentry').replace(/inet_sock_destruct\+0x5/g, 'inet_sock_destruct+0x45');
  assert.is(textPatchingFault(f, probed), null);
});

test('not text patching: a frame of toa.ko on the stack', () => {
  const f = fixture('toa-6.12-rethook-null').replace(
    /tcp_v6_rcv\+0x6bd\/0x1370/,
    'toa_recv_entry6+0x12/0x40 [toa]\n[   75.364274]  tcp_v6_rcv+0x6bd/0x1370',
  );
  assert.is(textPatchingFault(f, probed), null);
});

test('not text patching: a general protection fault, or no fault at all', () => {
  const gp =
    'cycle 3/50: ok\n[ 1.0] general protection fault, probably for non-canonical address\n[ 1.0] RIP: 0010:0x0';
  assert.is(textPatchingFault(gp, probed), null);
  assert.is(textPatchingFault('cycle 3/50: fine\n', probed), null);
});

test('cyclesDone: the last completed cycle, 0 before the first', () => {
  assert.is(cyclesDone(fixture('toa-6.12-int3-fentry')), 8);
  assert.is(cyclesDone('unload: toa, 50 cycles, seed 1\n'), 0);
});

test.run();
