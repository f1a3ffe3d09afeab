// IP address bytes <-> text. IPv6 text is exactly what Node prints for a socket's
// remoteAddress (libuv's inet_ntop), so a decoded TOA compares equal to what an app sees.

export function addressToText(bytes: Uint8Array): string {
  if (bytes.length === 4 || bytes.length === 16) return addressTextAt(bytes, 0, bytes.length);
  throw new Error(`an IP address is 4 or 16 bytes, got ${bytes.length}`);
}

/** addressToText of the `len` (4 or 16) bytes at `at` of buf, read in place. */
export function addressTextAt(buf: Uint8Array, at: number, len: 4 | 16 | number): string {
  return len === 4 ? ipv4ToText(buf, at) : ipv6ToText(buf, at);
}

function ipv4ToText(b: Uint8Array, at: number): string {
  return `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;
}

function ipv6ToText(b: Uint8Array, at: number): string {
  const words: number[] = [];
  for (let i = at; i < at + 16; i += 2) words.push(((b[i] ?? 0) << 8) | (b[i + 1] ?? 0));

  // RFC 5952: compress the longest run of two or more zero words, the first one on a tie.
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestLen < 2) best = -1;

  // Dotted tail as libuv prints it: v4-mapped (::ffff:a.b.c.d) and the old v4-compatible
  // form (::a.b.c.d, but only when words 6 and 7 are not both in the zero run).
  const dotted = best === 0 && (bestLen === 6 || (bestLen === 5 && words[5] === 0xffff));

  let text = '';
  for (let i = 0; i < 8; i++) {
    if (i === best) {
      text += i === 0 ? '::' : ':';
      i += bestLen - 1;
      continue;
    }
    if (i === 6 && dotted) return `${text}${ipv4ToText(b, at + 12)}`;
    text += (words[i] ?? 0).toString(16);
    if (i < 7) text += ':';
  }
  return text;
}

/** Parses IPv4 dotted-quad or IPv6 text (no zone id) into 4 or 16 bytes; throws when invalid. */
export function textToAddress(text: string): Uint8Array {
  const bytes = text.includes(':') ? parseIpv6(text) : parseIpv4(text);
  if (!bytes)
    throw new Error(`${JSON.stringify(text)} is not an IPv4 or IPv6 address (no host names, no zone ids)`);
  return bytes;
}

export function addressFamily(text: string): 4 | 6 {
  return textToAddress(text).length === 4 ? 4 : 6;
}

const DEC_OCTET = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
const HEX_WORD = /^[0-9a-fA-F]{1,4}$/;

function parseIpv4(text: string): Uint8Array | null {
  const parts = text.split('.');
  if (parts.length !== 4 || !parts.every((p) => DEC_OCTET.test(p))) return null;
  return Uint8Array.from(parts, Number);
}

function parseIpv6(text: string): Uint8Array | null {
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const compressed = halves.length === 2;
  // A dotted IPv4 may only stand for the last two words of the whole address.
  const head = parseWords(halves[0] ?? '', !compressed);
  const tail = compressed ? parseWords(halves[1] ?? '', true) : [];
  if (!head || !tail) return null;
  const gap = 8 - head.length - tail.length;
  if (compressed ? gap < 1 : gap !== 0) return null;

  const words = [...head, ...new Array<number>(gap).fill(0), ...tail];
  const bytes = new Uint8Array(16);
  for (const [i, w] of words.entries()) {
    bytes[2 * i] = w >> 8;
    bytes[2 * i + 1] = w & 0xff;
  }
  return bytes;
}

function parseWords(part: string, dottedLast: boolean): number[] | null {
  if (part === '') return [];
  const groups = part.split(':');
  const words: number[] = [];
  for (const [i, g] of groups.entries()) {
    if (HEX_WORD.test(g)) {
      words.push(Number.parseInt(g, 16));
      continue;
    }
    const v4 = dottedLast && i === groups.length - 1 ? parseIpv4(g) : null;
    if (!v4) return null;
    words.push(((v4[0] ?? 0) << 8) | (v4[1] ?? 0), ((v4[2] ?? 0) << 8) | (v4[3] ?? 0));
  }
  return words;
}
