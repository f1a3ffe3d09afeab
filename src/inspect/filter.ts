// --filter on capture files: libpcap compiles the expression (real BPF syntax and semantics,
// the same compiler tcpdump uses) through ffi-rs, once per link type; bpf.ts runs the program
// on each frame, so filtering costs no native call per packet.
import { type BpfProgram, decodeBpf, runBpf } from './bpf.js';
import type { Frame } from './inspect.js';
import { LINKTYPE, linktypeName } from './link.js';

export interface Filter {
  readonly expression: string;
  /** Whether the frame passes: compiled for its link type at the first frame of that type. */
  match(r: Pick<Frame, 'linktype' | 'buf' | 'start' | 'caplen' | 'origLen'>): boolean;
}

/** A --filter problem (bad syntax, not for this link type, no libpcap): bad input, not a file error. */
export class FilterError extends Error {}

const SNAPLEN = 262144;
const NETMASK_UNKNOWN = 0xffffffff; // PCAP_NETMASK_UNKNOWN: "ip broadcast" is then refused
const LIBRARIES = ['libpcap.so.1', 'libpcap.so.0.8', 'libpcap.so'];
/** libpcap wants a DLT_ value: raw IP is DLT_RAW (12 on Linux) whatever the file called it. */
const DLT_RAW = 12;

type Ffi = typeof import('ffi-rs');

let loaded: Promise<Ffi> | undefined;

// ffi-rs and libpcap are loaded for --filter only (and once): reading without one needs neither.
function loadLibpcap(): Promise<Ffi> {
  loaded ??= openLibpcap();
  return loaded;
}

async function openLibpcap(): Promise<Ffi> {
  const ffi = await import('ffi-rs');
  const tried: string[] = [];
  for (const path of LIBRARIES) {
    try {
      ffi.open({ library: 'pcap', path });
      ffi.open({ library: 'libc', path: 'libc.so.6' });
      return ffi;
    } catch (e) {
      tried.push(`${path}: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  throw new FilterError(
    `--filter needs libpcap, which did not load (install libpcap0.8): ${tried.join('; ')}`,
  );
}

function dlt(linktype: number): number {
  return linktype === LINKTYPE.RAW || linktype === LINKTYPE.RAW_14 ? DLT_RAW : linktype;
}

/** The program libpcap compiles from `expression` for frames of that link type. */
export function compileBpf(ffi: Ffi, expression: string, linktype: number): BpfProgram {
  const { DataType, load } = ffi;
  const pcap = load({
    library: 'pcap',
    funcName: 'pcap_open_dead',
    retType: DataType.External,
    paramsType: [DataType.I32, DataType.I32],
    paramsValue: [dlt(linktype), SNAPLEN],
  });
  // struct bpf_program { u_int bf_len; struct bpf_insn *bf_insns; }: libpcap fills it in.
  const program = Buffer.alloc(16);
  try {
    const status = load({
      library: 'pcap',
      funcName: 'pcap_compile',
      retType: DataType.I32,
      paramsType: [DataType.External, DataType.U8Array, DataType.String, DataType.I32, DataType.U32],
      paramsValue: [pcap, program, expression, 1, NETMASK_UNKNOWN],
    });
    if (status !== 0) {
      const why = load({
        library: 'pcap',
        funcName: 'pcap_geterr',
        retType: DataType.String,
        paramsType: [DataType.External],
        paramsValue: [pcap],
      });
      throw new FilterError(why);
    }
    const count = program.readUInt32LE(0);
    const insns = Buffer.alloc(8 * count);
    load({
      library: 'libc',
      funcName: 'memcpy',
      retType: DataType.U64,
      paramsType: [DataType.U8Array, DataType.U64, DataType.U64],
      paramsValue: [insns, Number(program.readBigUInt64LE(8)), insns.length],
    });
    load({
      library: 'pcap',
      funcName: 'pcap_freecode',
      retType: DataType.Void,
      paramsType: [DataType.U8Array],
      paramsValue: [program],
    });
    return decodeBpf(insns);
  } finally {
    load({
      library: 'pcap',
      funcName: 'pcap_close',
      retType: DataType.Void,
      paramsType: [DataType.External],
      paramsValue: [pcap],
    });
  }
}

const CHECK_ON = [LINKTYPE.ETHERNET, LINKTYPE.LINUX_SLL, LINKTYPE.LINUX_SLL2, LINKTYPE.RAW, LINKTYPE.NULL];

/**
 * A filter for `expression`, checked at once: an expression no link type toa inspect reads can
 * take (a syntax error, most often) is refused before any packet is read.
 */
export async function createFilter(expression: string): Promise<Filter> {
  const ffi = await loadLibpcap();
  const programs = new Map<number, BpfProgram>();
  const problem = (e: unknown, linktype?: number) => {
    const on = linktype === undefined ? '' : ` (compiled for ${linktypeName(linktype)})`;
    return new FilterError(`--filter ${JSON.stringify(expression)}: ${(e as Error).message}${on}`);
  };
  let first: unknown;
  for (const linktype of CHECK_ON) {
    try {
      programs.set(linktype, compileBpf(ffi, expression, linktype));
      break;
    } catch (e) {
      first ??= e;
    }
  }
  if (programs.size === 0) throw problem(first);
  return {
    expression,
    match(r) {
      let p = programs.get(r.linktype);
      if (!p) {
        try {
          p = compileBpf(ffi, expression, r.linktype);
        } catch (e) {
          throw problem(e, r.linktype);
        }
        programs.set(r.linktype, p);
      }
      return runBpf(p, r.buf, r.start, r.caplen, r.origLen) !== 0;
    },
  };
}
