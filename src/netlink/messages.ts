// TOA requests and replies as attribute bytes (kmod/uapi/toa_genl.h); no sockets here.
import { addressToText, FORMAT_NAMES, type FormatName, parseFormats, textToAddress } from '../wire/index.js';
import * as a from './attrs.js';
import { type Cidr, parseCidr } from './cidr.js';
import {
  AF_INET,
  AF_INET6,
  Attr,
  CidrAttr,
  PeerAttr,
  StatAttr,
  StatsAttr,
  TrustAttr,
  TupleAttr,
} from './uapi.js';

export interface Stat {
  /** The counter's line in /proc/net/toa_stats, from 0. */
  id: number;
  name: string;
  value: number;
}

export interface Config {
  /** Empty: TOA accepted from any source. */
  trust: Cidr[];
  formats: FormatName[];
  /** false: getpeername() answers the load balancer, as without the module. */
  enabled: boolean;
  stashMax: number;
  stashTtlMs: number;
  version: string;
}

/** Any subset; what is left out stays as it is. */
export interface ConfigChange {
  trust?: readonly string[];
  formats?: readonly string[] | string;
  enabled?: boolean;
}

export interface Endpoint {
  address: string;
  port: number;
}

/** A connection as the server sees it: local = the server, remote = the load balancer. */
export interface Tuple {
  local: Endpoint;
  remote: Endpoint;
}

export type Seen = 'syn' | 'ack' | 'data';

/** The fields of struct toa_peer_info (kmod/uapi/toa.h). */
export interface PeerInfo {
  /** The client the TOA named; port null when its format carries none. */
  client: { address: string; port: number | null };
  lb: Endpoint;
  format: FormatName;
  seen: Seen;
}

const SEEN: Record<number, Seen> = { 1: 'syn', 2: 'ack', 3: 'data' };
const afOf = (family: 4 | 6) => (family === 4 ? AF_INET : AF_INET6);

function encodeCidr(c: Cidr): Uint8Array {
  return a.nest(TrustAttr.CIDR, [
    a.u8(CidrAttr.FAMILY, afOf(c.family)),
    a.attr(CidrAttr.ADDR, c.address),
    a.u8(CidrAttr.PREFIX, c.prefix),
  ]);
}

/** SET_CONFIG attributes; every value is checked first, so bad input sends nothing. */
export function encodeSetConfig(change: ConfigChange): Uint8Array {
  const parts: Uint8Array[] = [];
  if (change.trust !== undefined)
    parts.push(
      a.nest(
        Attr.TRUST,
        change.trust.map((t) => encodeCidr(parseCidr(t))),
      ),
    );
  if (change.formats !== undefined) {
    const list = typeof change.formats === 'string' ? change.formats : change.formats.join(',');
    parts.push(a.str(Attr.FORMATS, parseFormats(list).join(',')));
  }
  if (change.enabled !== undefined) {
    if (typeof change.enabled !== 'boolean') throw new Error('enabled: give true or false');
    parts.push(a.u8(Attr.ENABLED, change.enabled ? 1 : 0));
  }
  if (!parts.length) throw new Error('setConfig: nothing to change; give trust, formats or enabled');
  return a.concat(parts);
}

function checkPort(what: string, port: number): number {
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new Error(`${what} port ${port}: give 1..65535`);
  return port;
}

/** LOOKUP attributes; both addresses must be of one family. */
export function encodeLookup(t: Tuple): Uint8Array {
  const local = textToAddress(t.local.address);
  const remote = textToAddress(t.remote.address);
  if (local.length !== remote.length)
    throw new Error(`lookup: ${t.local.address} and ${t.remote.address} are of different families; use one`);
  return a.nest(Attr.TUPLE, [
    a.u8(TupleAttr.FAMILY, local.length === 4 ? AF_INET : AF_INET6),
    a.attr(TupleAttr.LOCAL_ADDR, local),
    a.u16(TupleAttr.LOCAL_PORT, checkPort('local', t.local.port)),
    a.attr(TupleAttr.REMOTE_ADDR, remote),
    a.u16(TupleAttr.REMOTE_PORT, checkPort('remote', t.remote.port)),
  ]);
}

const nested = (attrs: a.Attr[], type: number, what: string) => a.parseAttrs(a.getBytes(attrs, type, what));

export function decodeStats(payload: Uint8Array): Stat[] {
  return nested(a.parseAttrs(payload), Attr.STATS, 'STATS')
    .filter((s) => s.type === StatsAttr.STAT)
    .map((s) => {
      const f = a.parseAttrs(s.data);
      return {
        id: a.getU32(f, StatAttr.ID, 'STAT_ID'),
        name: a.getStr(f, StatAttr.NAME, 'STAT_NAME'),
        value: Number(a.getU64(f, StatAttr.VALUE, 'STAT_VALUE')),
      };
    });
}

function decodeCidr(c: a.Attr): Cidr {
  const f = a.parseAttrs(c.data);
  const address = a.getBytes(f, CidrAttr.ADDR, 'CIDR_ADDR').slice();
  return {
    family: a.getU8(f, CidrAttr.FAMILY, 'CIDR_FAMILY') === AF_INET ? 4 : 6,
    address,
    prefix: a.getU8(f, CidrAttr.PREFIX, 'CIDR_PREFIX'),
  };
}

export function decodeConfig(payload: Uint8Array): Config {
  const top = a.parseAttrs(payload);
  return {
    trust: nested(top, Attr.TRUST, 'TRUST')
      .filter((c) => c.type === TrustAttr.CIDR)
      .map(decodeCidr),
    formats: parseFormats(a.getStr(top, Attr.FORMATS, 'FORMATS')),
    enabled: a.getU8(top, Attr.ENABLED, 'ENABLED') !== 0,
    stashMax: a.getU32(top, Attr.STASH_MAX, 'STASH_MAX'),
    stashTtlMs: a.getU32(top, Attr.STASH_TTL_MS, 'STASH_TTL_MS'),
    version: a.getStr(top, Attr.VERSION, 'VERSION'),
  };
}

export function decodePeer(payload: Uint8Array): PeerInfo {
  const f = nested(a.parseAttrs(payload), Attr.PEER, 'PEER');
  const port = a.find(f, PeerAttr.PORT);
  const format = FORMAT_NAMES[a.getU8(f, PeerAttr.FORMAT, 'PEER_FORMAT')];
  const seen = SEEN[a.getU8(f, PeerAttr.SEEN, 'PEER_SEEN')];
  if (!format || !seen) throw new Error('TOA reply: unknown format or seen value: update this client');
  return {
    client: {
      address: addressToText(a.getBytes(f, PeerAttr.ADDR, 'PEER_ADDR')),
      port: port ? a.getU16(f, PeerAttr.PORT, 'PEER_PORT') : null,
    },
    lb: {
      address: addressToText(a.getBytes(f, PeerAttr.LB_ADDR, 'PEER_LB_ADDR')),
      port: a.getU16(f, PeerAttr.LB_PORT, 'PEER_LB_PORT'),
    },
    format,
    seen,
  };
}
