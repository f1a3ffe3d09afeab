// Netlink attributes (struct nlattr: u16 len, u16 type, payload padded to 4), host byte order.
// Nests carry NLA_F_NESTED: the kernel's strict validation rejects a nest without it.

export const NLA_F_NESTED = 0x8000;
const TYPE_MASK = 0x3fff;

export interface Attr {
  type: number;
  data: Uint8Array;
}

const align4 = (n: number) => (n + 3) & ~3;

export function attr(type: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(align4(4 + payload.length));
  const v = new DataView(out.buffer);
  v.setUint16(0, 4 + payload.length, true);
  v.setUint16(2, type, true);
  out.set(payload, 4);
  return out;
}

export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export const nest = (type: number, children: Uint8Array[]) => attr(type | NLA_F_NESTED, concat(children));
export const u8 = (type: number, v: number) => attr(type, Uint8Array.of(v));

export function u16(type: number, v: number): Uint8Array {
  const b = new Uint8Array(2);
  new DataView(b.buffer).setUint16(0, v, true);
  return attr(type, b);
}

export function u32(type: number, v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v, true);
  return attr(type, b);
}

/** NUL-terminated, as NLA_NUL_STRING wants. */
export const str = (type: number, s: string) =>
  attr(type, concat([new TextEncoder().encode(s), Uint8Array.of(0)]));

/** Splits a run of attributes; throws on a length that runs past the end. */
export function parseAttrs(buf: Uint8Array): Attr[] {
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: Attr[] = [];
  let at = 0;
  while (at + 4 <= buf.length) {
    const len = v.getUint16(at, true);
    if (len < 4 || at + len > buf.length)
      throw new Error(`netlink attribute at byte ${at}: bad length ${len}`);
    out.push({ type: v.getUint16(at + 2, true) & TYPE_MASK, data: buf.subarray(at + 4, at + len) });
    at += align4(len);
  }
  return out;
}

export const find = (attrs: Attr[], type: number) => attrs.find((a) => a.type === type);

function need(attrs: Attr[], type: number, what: string, size?: number): Uint8Array {
  const a = find(attrs, type);
  if (!a) throw new Error(`TOA reply lacks ${what}: toa.ko and this client disagree on the uapi`);
  if (size !== undefined && a.data.length < size)
    throw new Error(`TOA reply: ${what} is ${a.data.length} bytes, want ${size}`);
  return a.data;
}

const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);
export const getU8 = (attrs: Attr[], type: number, what: string) => need(attrs, type, what, 1)[0] ?? 0;
export const getU16 = (attrs: Attr[], type: number, what: string) =>
  view(need(attrs, type, what, 2)).getUint16(0, true);
export const getU32 = (attrs: Attr[], type: number, what: string) =>
  view(need(attrs, type, what, 4)).getUint32(0, true);
export const getU64 = (attrs: Attr[], type: number, what: string) =>
  view(need(attrs, type, what, 8)).getBigUint64(0, true);
export const getBytes = (attrs: Attr[], type: number, what: string) => need(attrs, type, what);

export function getStr(attrs: Attr[], type: number, what: string): string {
  const b = need(attrs, type, what);
  const end = b.indexOf(0);
  return new TextDecoder().decode(end < 0 ? b : b.subarray(0, end));
}
