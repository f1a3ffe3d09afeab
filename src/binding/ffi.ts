// The fallback when the addon could not be built: the same two libc calls through ffi-rs.
import { DataType, load, open } from 'ffi-rs';
import { sequence } from './sequence.js';
import { type Syscalls, TOA_SO_GET_PEER } from './syscalls.js';

const LIB = 'toa-libc';

interface Raw {
  value: number;
  errnoCode: number;
}

function call(funcName: string, paramsType: DataType[], paramsValue: unknown[]): number {
  const r = load({
    library: LIB,
    funcName,
    retType: DataType.I32,
    paramsType,
    paramsValue,
    errno: true,
  }) as Raw;
  return r.value < 0 ? -r.errnoCode : r.value;
}

/** ffi-rs over libc.so.6, or an Error saying why not. */
export function loadFfi(): Syscalls | Error {
  try {
    open({ library: LIB, path: 'libc.so.6' });
  } catch (err) {
    return new Error(`ffi-rs cannot open libc.so.6: ${(err as Error).message}`);
  }
  // socklen_t in/out: the kernel's writes land in the buffers ffi-rs passes by pointer.
  const len = Buffer.alloc(4);
  const filled = (r: number) => (r < 0 ? r : len.readUInt32LE(0));
  const raw: Pick<Syscalls, 'peerInfo' | 'peerName'> = {
    peerInfo(fd, level, buf) {
      len.writeUInt32LE(buf.length, 0);
      const I = DataType.I32;
      return filled(
        call(
          'getsockopt',
          [I, I, I, DataType.U8Array, DataType.U8Array],
          [fd, level, TOA_SO_GET_PEER, buf, len],
        ),
      );
    },
    peerName(fd, buf) {
      len.writeUInt32LE(buf.length, 0);
      return filled(call('getpeername', [DataType.I32, DataType.U8Array, DataType.U8Array], [fd, buf, len]));
    },
  };
  return { kind: 'ffi', ...raw, ...sequence(raw.peerInfo, raw.peerName) };
}
