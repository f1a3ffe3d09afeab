// The syscalls the installer needs and Node lacks, through ffi-rs and libc's syscall(2): glibc
// wraps neither finit_module nor delete_module, so they go by number.
import { DataType, load, open } from 'ffi-rs';

const LIB = 'toa-module-libc';
let opened = false;

// Syscall numbers per architecture (arch/*/entry/syscalls, include/uapi/asm-generic/unistd.h).
const NUMBERS: Record<string, { finit_module: number; delete_module: number; setns: number }> = {
  x64: { finit_module: 313, delete_module: 176, setns: 308 },
  arm64: { finit_module: 273, delete_module: 106, setns: 268 },
  riscv64: { finit_module: 273, delete_module: 106, setns: 268 },
};

export const O_NONBLOCK = 0o4000;
export const O_TRUNC = 0o1000; // delete_module: force; never used here
export const CLONE_NEWNET = 0x40000000;

export interface SysResult {
  value: number;
  /** errno name (EBUSY...) when value < 0 */
  code: string;
  message: string;
}

function numbers() {
  const n = NUMBERS[process.arch];
  if (!n) throw new Error(`toa: module syscalls are not mapped for ${process.arch}; use x64 or arm64`);
  return n;
}

function syscall(nr: number, types: DataType[], values: unknown[]): SysResult {
  if (!opened) {
    open({ library: LIB, path: 'libc.so.6' });
    opened = true;
  }
  // syscall(2) is variadic; integer and pointer arguments travel in the same registers either way.
  const r = load({
    library: LIB,
    funcName: 'syscall',
    retType: DataType.I64,
    paramsType: [DataType.I64, ...types],
    paramsValue: [nr, ...values],
    errno: true,
  }) as unknown as { value: number | bigint; errnoCode: number; errnoMessage: string };
  const value = Number(r.value);
  return { value, code: value < 0 ? errnoName(r.errnoCode) : '', message: value < 0 ? r.errnoMessage : '' };
}

const cString = (s: string) => Buffer.from(`${s}\0`);

const ERRNO: Record<number, string> = {
  1: 'EPERM',
  2: 'ENOENT',
  8: 'ENOEXEC',
  11: 'EAGAIN',
  12: 'ENOMEM',
  14: 'EFAULT',
  16: 'EBUSY',
  17: 'EEXIST',
  22: 'EINVAL',
  38: 'ENOSYS',
  61: 'ENODATA',
  74: 'EBADMSG',
  129: 'EKEYREJECTED',
};
const errnoName = (n: number) => ERRNO[n] ?? `errno ${n}`;

/** finit_module(fd, params, 0): the kernel reads the module from the open file. */
export function finitModule(fd: number, params: string): SysResult {
  return syscall(
    numbers().finit_module,
    [DataType.I64, DataType.U8Array, DataType.I64],
    [fd, cString(params), 0],
  );
}

/** delete_module(name, flags); O_NONBLOCK fails at once with EWOULDBLOCK while it is in use, like rmmod. */
export function deleteModule(name: string, flags = O_NONBLOCK): SysResult {
  return syscall(numbers().delete_module, [DataType.U8Array, DataType.I64], [cString(name), flags]);
}

/** setns(fd, nstype) for the calling thread: Node's main thread, where sockets are created. */
export function setns(fd: number, nstype: number): SysResult {
  return syscall(numbers().setns, [DataType.I64, DataType.I64], [fd, nstype]);
}
