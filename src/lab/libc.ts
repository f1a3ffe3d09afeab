// The few syscalls Node lacks, through ffi-rs: ioctl (TUNSETIFF), eventfd and poll.
import { DataType, type FieldType, load, open } from 'ffi-rs';

const LIB = 'libc';
let opened = false;

export interface Result {
  value: number;
  errno: number;
  message: string;
}

interface Raw {
  value: number;
  errnoCode: number;
  errnoMessage: string;
}

function params(funcName: string, paramsType: FieldType[], paramsValue: unknown[]) {
  if (!opened) {
    open({ library: LIB, path: 'libc.so.6' });
    opened = true;
  }
  return { library: LIB, funcName, retType: DataType.I32, paramsType, paramsValue, errno: true as const };
}

const result = (r: Raw): Result => ({ value: r.value, errno: r.errnoCode, message: r.errnoMessage });

function call(funcName: string, paramsType: FieldType[], paramsValue: unknown[]): Result {
  return result(load(params(funcName, paramsType, paramsValue)) as Raw);
}

/** ioctl(fd, request, buf): buf is passed by pointer and the kernel's writes land in it. */
export function ioctl(fd: number, request: number, buf: Buffer): Result {
  return call('ioctl', [DataType.I32, DataType.U64, DataType.U8Array], [fd, request, buf]);
}

export const EFD_NONBLOCK = 0o4000;
export const EFD_CLOEXEC = 0o2000000;

export function eventfd(flags: number): Result {
  return call('eventfd', [DataType.I32, DataType.I32], [0, flags]);
}

export const POLLIN = 0x1;

/** A struct pollfd array (int fd; short events; short revents) asking POLLIN on each fd. */
export function pollFds(fds: number[]): Buffer {
  const b = Buffer.alloc(8 * fds.length);
  fds.forEach((fd, i) => {
    b.writeInt32LE(fd, i * 8);
    b.writeInt16LE(POLLIN, i * 8 + 4);
  });
  return b;
}

/**
 * poll(2) on a thread of its own, so the event loop stays free. Always give a finite timeout:
 * the thread is held until poll returns.
 */
export async function pollAsync(fds: Buffer, timeoutMs: number): Promise<Result> {
  const p = params('poll', [DataType.U8Array, DataType.U64, DataType.I32], [fds, fds.length / 8, timeoutMs]);
  return result((await load({ ...p, runInNewThread: true as const })) as Raw);
}
