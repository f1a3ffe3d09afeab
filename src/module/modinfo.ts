// A .ko's .modinfo section (NUL-separated "key=value" strings), read from the ELF file itself:
// no modinfo binary, and nothing of the file is trusted before its bounds are checked.
import { readFileSync } from 'node:fs';

export interface ModInfo {
  /** Every key, in file order; a key can repeat (parm, alias, depends...). */
  entries: [string, string][];
  /** The first value of a key, or undefined. */
  get(key: string): string | undefined;
}

const bad = (path: string, why: string) =>
  new Error(`${path}: not a kernel module (${why}); pass the toa.ko that \`toa build\` printed`);

/** The .modinfo of the ELF image `elf` (a .ko's bytes); `path` names it in errors. */
export function parseModInfo(elf: Buffer, path = 'module'): ModInfo {
  if (elf.length < 52 || elf.readUInt32BE(0) !== 0x7f454c46) throw bad(path, 'no ELF header');
  const wide = elf[4] === 2; // ELFCLASS64
  const le = elf[5] === 1; // ELFDATA2LSB
  if ((elf[4] !== 1 && !wide) || (elf[5] !== 1 && elf[5] !== 2))
    throw bad(path, 'unknown ELF class or byte order');
  const u16 = (at: number) => (le ? elf.readUInt16LE(at) : elf.readUInt16BE(at));
  const u32 = (at: number) => (le ? elf.readUInt32LE(at) : elf.readUInt32BE(at));
  const word = (at: number) =>
    wide ? Number(le ? elf.readBigUInt64LE(at) : elf.readBigUInt64BE(at)) : u32(at);
  if (elf.length < (wide ? 64 : 52)) throw bad(path, 'truncated ELF header');
  const shoff = word(wide ? 0x28 : 0x20);
  const shentsize = u16(wide ? 0x3a : 0x2e);
  const shnum = u16(wide ? 0x3c : 0x30);
  const shstrndx = u16(wide ? 0x3e : 0x32);
  if (shentsize < (wide ? 64 : 40) || shoff + shnum * shentsize > elf.length || shstrndx >= shnum)
    throw bad(path, 'section table out of bounds');
  const section = (i: number) => {
    const at = shoff + i * shentsize;
    const offset = word(at + (wide ? 0x18 : 0x10));
    const size = word(at + (wide ? 0x20 : 0x14));
    if (offset + size > elf.length) throw bad(path, `section ${i} out of bounds`);
    return { name: u32(at), offset, size };
  };
  const names = section(shstrndx);
  const nameOf = (off: number) => {
    const start = names.offset + off;
    const end = elf.indexOf(0, start);
    return start < names.offset + names.size && end >= 0 ? elf.toString('latin1', start, end) : '';
  };
  for (let i = 0; i < shnum; i++) {
    const s = section(i);
    if (nameOf(s.name) !== '.modinfo') continue;
    return fromStrings(elf.subarray(s.offset, s.offset + s.size));
  }
  throw bad(path, 'no .modinfo section');
}

function fromStrings(bytes: Buffer): ModInfo {
  const entries: [string, string][] = [];
  for (const text of bytes.toString('utf8').split('\0')) {
    const eq = text.indexOf('=');
    if (eq > 0) entries.push([text.slice(0, eq), text.slice(eq + 1)]);
  }
  return { entries, get: (key) => entries.find(([k]) => k === key)?.[1] };
}

/** parseModInfo of a file; an unreadable file is a one-line error naming the fix. */
export function readModInfo(path: string): ModInfo {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new Error(
      `${path}: cannot read (${err.code ?? err.message}); check the path, or run \`toa build\``,
    );
  }
  return parseModInfo(bytes, path);
}
