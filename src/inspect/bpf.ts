// A classic BPF interpreter: runs the programs libpcap compiles (filter.ts) over captured frames,
// with libpcap's own semantics (bpf_filter.c): a load past the captured bytes, a division by
// zero or a jump out of the program rejects the packet; it never throws and always ends.

export interface BpfProgram {
  code: Uint16Array;
  jt: Uint8Array;
  jf: Uint8Array;
  k: Uint32Array;
}

/** Scratch memory words (BPF_MEMWORDS). */
const MEMWORDS = 16;
/** Backward jumps allowed per packet (libpcap's MAX_BACKWARD_JUMPS: "ip6 protochain" loops). */
const MAX_BACKWARD_JUMPS = 64;

// Opcodes: class | size | mode, class | op | source. Named as in <pcap/bpf.h>.
const LD_W_ABS = 0x20;
const LD_H_ABS = 0x28;
const LD_B_ABS = 0x30;
const LD_W_IND = 0x40;
const LD_H_IND = 0x48;
const LD_B_IND = 0x50;
const LD_W_LEN = 0x80;
const LD_IMM = 0x00;
const LD_MEM = 0x60;
const LDX_W_LEN = 0x81;
const LDX_IMM = 0x01;
const LDX_MEM = 0x61;
const LDX_MSH_B = 0xb1;
const ST = 0x02;
const STX = 0x03;
const JA = 0x05;
const JEQ_K = 0x15;
const JGT_K = 0x25;
const JGE_K = 0x35;
const JSET_K = 0x45;
const JEQ_X = 0x1d;
const JGT_X = 0x2d;
const JGE_X = 0x3d;
const JSET_X = 0x4d;
const RET_K = 0x06;
const RET_A = 0x16;
const TAX = 0x07;
const TXA = 0x87;
const ALU = 0x04;
const ALU_X = 0x08;
const ADD = 0x00;
const SUB = 0x10;
const MUL = 0x20;
const DIV = 0x30;
const OR = 0x40;
const AND = 0x50;
const LSH = 0x60;
const RSH = 0x70;
const NEG = 0x80;
const MOD = 0x90;
const XOR = 0xa0;

/** A program from its struct bpf_insn array (8 bytes each, host byte order: little-endian). */
export function decodeBpf(insns: Uint8Array): BpfProgram {
  if (insns.length === 0 || insns.length % 8 !== 0)
    throw new Error(`a BPF program is a whole number of 8-byte instructions, got ${insns.length} bytes`);
  const n = insns.length / 8;
  const v = new DataView(insns.buffer, insns.byteOffset, insns.byteLength);
  const p: BpfProgram = {
    code: new Uint16Array(n),
    jt: new Uint8Array(n),
    jf: new Uint8Array(n),
    k: new Uint32Array(n),
  };
  for (let i = 0; i < n; i++) {
    p.code[i] = v.getUint16(8 * i, true);
    p.jt[i] = insns[8 * i + 2] as number;
    p.jf[i] = insns[8 * i + 3] as number;
    p.k[i] = v.getUint32(8 * i + 4, true);
  }
  return p;
}

const mem = new Uint32Array(MEMWORDS);

/**
 * Runs p over the frame buf[start, start + caplen) that was wirelen bytes on the wire: 0 when
 * the packet is rejected, else the snapshot length the program returned (nonzero: a match).
 */
export function runBpf(
  p: BpfProgram,
  buf: Uint8Array,
  start: number,
  caplen: number,
  wirelen: number,
): number {
  const { code, jt, jf, k } = p;
  const n = code.length;
  let a = 0;
  let x = 0;
  let back = 0;
  mem.fill(0);
  for (let pc = 0; pc < n; pc++) {
    const op = code[pc] as number;
    const kk = k[pc] as number;
    switch (op) {
      case RET_K:
        return kk;
      case RET_A:
        return a;
      case LD_W_ABS:
      case LD_H_ABS:
      case LD_B_ABS:
      case LD_W_IND:
      case LD_H_IND:
      case LD_B_IND: {
        const at = op >= LD_W_IND ? x + kk : kk;
        const size = (op & 0x18) === 0 ? 4 : (op & 0x18) === 0x08 ? 2 : 1;
        // Numbers do not wrap: x + k + size past the captured bytes is simply out of bounds.
        if (at + size > caplen) return 0;
        a = load(buf, start + at, size);
        break;
      }
      case LDX_MSH_B:
        if (kk >= caplen) return 0;
        x = ((buf[start + kk] as number) & 0xf) << 2;
        break;
      case LD_W_LEN:
        a = wirelen;
        break;
      case LDX_W_LEN:
        x = wirelen;
        break;
      case LD_IMM:
        a = kk;
        break;
      case LDX_IMM:
        x = kk;
        break;
      case LD_MEM:
      case LDX_MEM:
      case ST:
      case STX:
        if (kk >= MEMWORDS) return 0;
        if (op === LD_MEM) a = mem[kk] as number;
        else if (op === LDX_MEM) x = mem[kk] as number;
        else mem[kk] = op === ST ? a : x;
        break;
      case JA: {
        const off = kk | 0; // signed: libpcap's "ip6 protochain" jumps back
        if (pc + 1 + off >= n || pc + 1 + off < 0) return 0;
        if (off < 0 && (off === -1 || back++ >= MAX_BACKWARD_JUMPS)) return 0;
        pc += off;
        break;
      }
      case JEQ_K:
        pc += a === kk ? (jt[pc] as number) : (jf[pc] as number);
        break;
      case JGT_K:
        pc += a > kk ? (jt[pc] as number) : (jf[pc] as number);
        break;
      case JGE_K:
        pc += a >= kk ? (jt[pc] as number) : (jf[pc] as number);
        break;
      case JSET_K:
        pc += (a & kk) !== 0 ? (jt[pc] as number) : (jf[pc] as number);
        break;
      case JEQ_X:
        pc += a === x ? (jt[pc] as number) : (jf[pc] as number);
        break;
      case JGT_X:
        pc += a > x ? (jt[pc] as number) : (jf[pc] as number);
        break;
      case JGE_X:
        pc += a >= x ? (jt[pc] as number) : (jf[pc] as number);
        break;
      case JSET_X:
        pc += (a & x) !== 0 ? (jt[pc] as number) : (jf[pc] as number);
        break;
      case TAX:
        x = a;
        break;
      case TXA:
        a = x;
        break;
      default: {
        if ((op & 0x07) !== ALU) return 0;
        const b = op & ALU_X ? x : kk;
        const r = alu(op & 0xf0, a, b);
        if (r < 0) return 0;
        a = r;
      }
    }
  }
  // Ran off the end (a conditional jump past the last instruction): libpcap rejects.
  return 0;
}

function load(buf: Uint8Array, at: number, size: number): number {
  if (size === 1) return buf[at] as number;
  const h = ((buf[at] as number) << 8) | (buf[at + 1] as number);
  if (size === 2) return h;
  return h * 0x10000 + (((buf[at + 2] as number) << 8) | (buf[at + 3] as number));
}

// 32-bit unsigned arithmetic; -1 rejects the packet (division by zero, an unknown operation).
function alu(op: number, a: number, b: number): number {
  switch (op) {
    case ADD:
      return (a + b) >>> 0;
    case SUB:
      return (a - b) >>> 0;
    case MUL:
      return Math.imul(a, b) >>> 0;
    case DIV:
      return b === 0 ? -1 : Math.floor(a / b);
    case MOD:
      return b === 0 ? -1 : a % b;
    case AND:
      return (a & b) >>> 0;
    case OR:
      return (a | b) >>> 0;
    case XOR:
      return (a ^ b) >>> 0;
    case LSH:
      return b < 32 ? (a << b) >>> 0 : 0;
    case RSH:
      return b < 32 ? a >>> b : 0;
    case NEG:
      return (0 - a) >>> 0;
    default:
      return -1;
  }
}
