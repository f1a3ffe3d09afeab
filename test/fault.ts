// Which kernel faults in the lab are the kernel's own live code patching going wrong under
// multi-threaded TCG, rather than the module under test. Two signatures, both produced in this lab
// by the baseline module (test/vm/baseline/: the same probes with empty handlers) as well as by
// toa.ko — excerpts in test/host/fixtures/faults/:
// - "Oops: int3" with RIP just past the first byte of a probed function's patched entry (the
//   breakpoint text_poke_bp plants while it rewrites the ftrace call; a vCPU ran it after the
//   patching had finished);
// - a NULL instruction fetch at the entry of a probed function: ftrace's trampoline returned to
//   address 0 there. The first frame is then the kretprobe return trampoline (a kretprobed
//   function), or the caller that reached the probed function through a pointer (CALLERS).
// - an RCU stall with the interrupted vCPU at a probed function's patched entry (seen on 5.10 at
//   tcp_v6_conn_request+0x0).
// None may have a frame of toa.ko on the stack.

const FAULT = /\bBUG:|\bOops\b|general protection/;

/** The first oops: from its first line to the end of its trace (or 80 lines). */
function firstOops(consoleText: string): string[] {
  const lines = consoleText.split('\n').map((l) => l.replace(/^\[\s*\d+\.\d+\]\s?/, ''));
  const at = lines.findIndex((l) => FAULT.test(l));
  if (at < 0) return [];
  const end = lines.findIndex((l, i) => i > at && l.includes('---[ end trace'));
  return lines.slice(at, end < 0 ? at + 80 : end + 1);
}

/** The first reliable frame after "Call Trace:" (frames starting with "?" are guesses). */
function firstFrame(oops: string[]): string | undefined {
  const at = oops.findIndex((l) => l.includes('Call Trace:'));
  if (at < 0) return undefined;
  return oops
    .slice(at + 1)
    .map((l) => l.trim())
    .find((l) => l !== '<TASK>' && !l.startsWith('?') && !l.startsWith('<IRQ>'));
}

// arch_rethook_trampoline has no symbol of its own in kallsyms on Debian's 6.x and 7.x builds: it
// follows trace_clock_x86_tsc, and oopses print it as that function's end.
const RETHOOK_FRAME = /^(arch_rethook_trampoline\b|trace_clock_x86_tsc\+0x20\/0x20)/;

/** Kernel functions that call a function toa.ko probes through a pointer, and which. */
export const CALLERS: Record<string, readonly string[]> = {
  __sk_destruct: ['inet_sock_destruct'], // sk->sk_destruct
  tcp_rcv_state_process: ['tcp_v4_conn_request', 'tcp_v6_conn_request'], // icsk_af_ops->conn_request
  tcp_check_req: ['tcp_v4_syn_recv_sock', 'tcp_v6_syn_recv_sock'], // icsk_af_ops->syn_recv_sock
  __sys_listen: ['inet_listen'], // sock->ops->listen
  __sys_listen_socket: ['inet_listen'],
  tcp_setsockopt: ['ipv6_setsockopt'], // icsk_af_ops->setsockopt
  sock_common_setsockopt: ['ipv6_setsockopt'], // sk->sk_prot->setsockopt
};

/** An RCU stall with the stalled vCPU at a probed function's patched entry; null otherwise. */
function stallAtProbe(consoleText: string, probed: readonly string[]): string | null {
  const lines = consoleText.split('\n').map((l) => l.replace(/^\[\s*\d+\.\d+\]\s?/, '').trim());
  const at = lines.findIndex((l) => l.includes('self-detected stall on CPU'));
  if (at < 0) return null;
  const block = lines.slice(at, at + 80);
  if (block.some((l) => /\[toa\]/.test(l))) return null;
  const rip = block.find((l) => l.startsWith('RIP: 0010:'))?.slice('RIP: 0010:'.length) ?? '';
  const [, sym = '', off = ''] = /^([\w.]+)\+0x([0-9a-f]+)\//.exec(rip) ?? [];
  if (probed.includes(sym) && Number.parseInt(off, 16) <= 5)
    return `an RCU stall spinning at ${sym}+0x${off}, the patched entry of a probed function`;
  return null;
}

/**
 * A description of the text-patching fault in `consoleText`, or null when its first oops is
 * anything else. `probed`: the functions the module probes.
 */
export function textPatchingFault(consoleText: string, probed: readonly string[]): string | null {
  const stall = stallAtProbe(consoleText, probed);
  if (stall) return stall;
  const oops = firstOops(consoleText);
  if (!oops.length) return null;
  const ours = oops.some((l) => !l.startsWith('Modules linked in:') && /\[toa\]/.test(l));
  if (ours) return null;
  const rip = oops.find((l) => l.startsWith('RIP: 0010:'))?.slice('RIP: 0010:'.length) ?? '';
  const head = oops[0] ?? '';
  if (head.includes('Oops: int3')) {
    const [, sym = '', off = ''] = /^([\w.]+)\+0x([0-9a-f]+)\//.exec(rip) ?? [];
    if (probed.includes(sym) && Number.parseInt(off, 16) <= 5)
      return `int3 at ${sym}+0x${off}, the patched entry of a probed function`;
    return null;
  }
  const nullFetch =
    head.includes('kernel NULL pointer dereference') &&
    oops.some((l) => l.includes('supervisor instruction fetch')) &&
    rip.startsWith('0x0');
  const frame = firstFrame(oops);
  if (!nullFetch || !frame) return null;
  if (RETHOOK_FRAME.test(frame))
    return 'a jump to address 0 at the entry of a kretprobed function (kretprobe trampoline frame)';
  const caller = /^([\w.]+)\+0x/.exec(frame)?.[1] ?? '';
  const callee = CALLERS[caller]?.find((f) => probed.includes(f));
  if (callee) return `a jump to address 0 at the entry of ${callee} (called by ${caller} through a pointer)`;
  return null;
}

/** The last "cycle N/M:" line the unload program printed: cycles that passed every check. */
export function cyclesDone(output: string): number {
  const all = [...output.matchAll(/^\s*cycle (\d+)\/\d+:/gm)].map((m) => Number(m[1]));
  return all.length ? Math.max(...all) : 0;
}
