// CIDR text -> (family, address, prefix), checked before anything reaches the kernel.
import { addressToText, textToAddress } from '../wire/index.js';

export interface Cidr {
  family: 4 | 6;
  /** 4 or 16 bytes, network order. */
  address: Uint8Array;
  prefix: number;
}

/** "192.0.2.0/24", "2001:db8::/32", or a bare address (a host prefix); throws with the fix. */
export function parseCidr(text: string): Cidr {
  const [addr = '', plen, extra] = text.trim().split('/');
  const fail = (why: string) =>
    new Error(`trust CIDR ${JSON.stringify(text)}: ${why} (e.g. 198.51.100.0/24 or 2001:db8::/32)`);
  if (extra !== undefined) throw fail('more than one "/"');
  let address: Uint8Array;
  try {
    address = textToAddress(addr);
  } catch {
    throw fail('not an IPv4 or IPv6 address');
  }
  const max = address.length * 8;
  if (plen === undefined) return { family: address.length === 4 ? 4 : 6, address, prefix: max };
  if (!/^\d{1,3}$/.test(plen) || Number(plen) > max) throw fail(`the prefix must be 0..${max}`);
  return { family: address.length === 4 ? 4 : 6, address, prefix: Number(plen) };
}

export const cidrToText = (c: Cidr) => `${addressToText(c.address)}/${c.prefix}`;
