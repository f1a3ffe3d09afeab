// Netlink errors: errno, plus the kernel's extended-ack message when it gave one.
import { constants } from 'node:os';
import { parseAttrs } from './attrs.js';

const NLM_F_CAPPED = 0x100;
const NLM_F_ACK_TLVS = 0x200;
const NLMSGERR_ATTR_MSG = 1;
const NLMSGERR_ATTR_OFFS = 2;

export interface NetlinkError {
  /** Positive errno; 0 is an ACK. */
  errno: number;
  /** The extack message (NL_SET_ERR_MSG) when the kernel set one. */
  extack?: string;
  /** Byte offset of the offending attribute in the request, when given. */
  offset?: number;
}

/** Reads struct nlmsgerr (the payload of an NLMSG_ERROR message) and its extack TLVs. */
export function parseNetlinkError(data: Uint8Array, flags: number): NetlinkError {
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (data.length < 4) throw new Error('netlink error message shorter than 4 bytes');
  const out: NetlinkError = { errno: -v.getInt32(0, true) };
  if (!(flags & NLM_F_ACK_TLVS) || data.length < 20) return out;
  // the request comes back whole unless capped to its 16-byte header
  const echoed = flags & NLM_F_CAPPED ? 16 : (v.getUint32(4, true) + 3) & ~3;
  for (const t of parseAttrs(data.subarray(Math.min(data.length, 4 + echoed)))) {
    if (t.type === NLMSGERR_ATTR_MSG) out.extack = new TextDecoder().decode(t.data).replace(/\0.*$/s, '');
    if (t.type === NLMSGERR_ATTR_OFFS && t.data.length >= 4)
      out.offset = new DataView(t.data.buffer, t.data.byteOffset).getUint32(0, true);
  }
  return out;
}

export const errnoName = (errno: number) =>
  Object.entries(constants.errno).find(([, n]) => n === errno)?.[0] ?? `errno ${errno}`;

/** What a TOA request's error means and what to do about it. */
const HINTS: Record<string, Record<string, string>> = {
  any: {
    EPERM: 'needs CAP_NET_ADMIN: run as root',
    EINVAL: 'the kernel rejected an attribute',
  },
  lookup: {
    ENOENT: 'the connection carries no TOA (its peer is the client itself)',
    ESRCH: "no established TCP connection has that 4-tuple in this process's network namespace",
  },
};

export class ToaError extends Error {
  readonly errno: number;
  readonly code: string;
  readonly extack: string | undefined;

  constructor(op: string, e: NetlinkError) {
    const code = errnoName(e.errno);
    const hint = HINTS[op]?.[code] ?? HINTS.any?.[code] ?? 'request failed';
    super(`TOA ${op}: ${code}: ${hint}${e.extack ? ` (kernel: ${e.extack})` : ''}`);
    this.name = 'ToaError';
    this.errno = e.errno;
    this.code = code;
    this.extack = e.extack;
  }
}
