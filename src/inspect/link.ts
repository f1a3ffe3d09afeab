// Link layers: where the IP packet starts in a captured frame. Only offsets are computed here;
// the IP and TCP headers are src/wire's to parse.

export const LINKTYPE = {
  NULL: 0, // BSD loopback: 4-byte address family in host byte order
  ETHERNET: 1,
  RAW_12: 12, // raw IP on some BSDs' DLT_RAW
  RAW_14: 14, // raw IP on OpenBSD's DLT_RAW
  RAW: 101,
  LINUX_SLL: 113,
  IPV4: 228,
  IPV6: 229,
  LINUX_SLL2: 276,
} as const;

const NAMES = new Map<number, string>([
  [LINKTYPE.NULL, 'BSD loopback'],
  [LINKTYPE.ETHERNET, 'Ethernet'],
  [LINKTYPE.RAW_12, 'raw IP'],
  [LINKTYPE.RAW_14, 'raw IP'],
  [LINKTYPE.RAW, 'raw IP'],
  [LINKTYPE.LINUX_SLL, 'Linux cooked (SLL)'],
  [LINKTYPE.IPV4, 'raw IPv4'],
  [LINKTYPE.IPV6, 'raw IPv6'],
  [LINKTYPE.LINUX_SLL2, 'Linux cooked v2 (SLL2)'],
]);

export function isSupportedLinktype(linktype: number): boolean {
  return NAMES.has(linktype);
}

export function linktypeName(linktype: number): string {
  return NAMES.get(linktype) ?? `link type ${linktype}`;
}

export function supportedLinktypes(): string {
  return [...NAMES].map(([n, name]) => `${n} (${name})`).join(', ');
}

/** The frame is too short for its own link header (or a VLAN tag): cut by the snaplen. */
export const LINK_TRUNCATED = -1;
/** Not IPv4/IPv6 (ARP, LLDP, ...). */
export const LINK_NOT_IP = -2;

const ETH_IPV4 = 0x0800;
const ETH_IPV6 = 0x86dd;
const ETH_VLAN = 0x8100; // 802.1Q
const ETH_QINQ = 0x88a8; // 802.1ad service tag
const ETH_QINQ_OLD = 0x9100; // pre-standard Q-in-Q

/**
 * The offset in buf of the IP header of the frame buf[start, end), or LINK_TRUNCATED /
 * LINK_NOT_IP. The linktype must be one isSupportedLinktype accepts.
 */
export function ipOffset(linktype: number, buf: Uint8Array, start: number, end: number): number {
  switch (linktype) {
    case LINKTYPE.ETHERNET:
      return etherPayload(buf, start + 12, end);
    case LINKTYPE.LINUX_SLL:
      return etherPayload(buf, start + 14, end);
    case LINKTYPE.LINUX_SLL2:
      // SLL2 puts the protocol first and the 20-byte header ends after the address.
      if (end - start < 20) return LINK_TRUNCATED;
      return ethertypeAt(buf, start, start + 20, end);
    case LINKTYPE.NULL: {
      if (end - start < 4) return LINK_TRUNCATED;
      // Host byte order of the capturing machine: the family is in one end or the other.
      const family = (buf[start] as number) | (buf[start + 3] as number);
      // AF_INET is 2 everywhere; AF_INET6 is 10 (Linux), 24 (NetBSD/OpenBSD), 28 (FreeBSD), 30 (macOS).
      if (family === 2 || family === 10 || family === 24 || family === 28 || family === 30) return start + 4;
      return LINK_NOT_IP;
    }
    default: {
      // Raw IP: the version nibble says the rest.
      if (end - start < 1) return LINK_TRUNCATED;
      const version = (buf[start] as number) >> 4;
      return version === 4 || version === 6 ? start : LINK_NOT_IP;
    }
  }
}

// An Ethernet-style type field at `type`, possibly behind nested VLAN tags of 4 bytes each.
function etherPayload(buf: Uint8Array, type: number, end: number): number {
  for (;;) {
    if (end < type + 2) return LINK_TRUNCATED;
    const t = ((buf[type] as number) << 8) | (buf[type + 1] as number);
    if (t !== ETH_VLAN && t !== ETH_QINQ && t !== ETH_QINQ_OLD) return ethertypeAt(buf, type, type + 2, end);
    type += 4;
  }
}

function ethertypeAt(buf: Uint8Array, type: number, payload: number, end: number): number {
  const t = ((buf[type] as number) << 8) | (buf[type + 1] as number);
  if (t !== ETH_IPV4 && t !== ETH_IPV6) return LINK_NOT_IP;
  return end <= payload ? LINK_TRUNCATED : payload;
}

/**
 * Whether the IP packet at `ip` is whole in the capture (which ends at `end`): its header's
 * length field fits in the captured bytes. A cut packet must be reported as truncated, never
 * parsed as if complete.
 */
export function ipComplete(buf: Uint8Array, ip: number, end: number): boolean {
  const have = end - ip;
  const version = (buf[ip] ?? 0) >> 4;
  if (version === 4) return have >= 20 && (((buf[ip + 2] as number) << 8) | (buf[ip + 3] as number)) <= have;
  if (version === 6)
    return have >= 40 && 40 + (((buf[ip + 4] as number) << 8) | (buf[ip + 5] as number)) <= have;
  return false;
}
