// Numbers of kmod/uapi/toa_genl.h (family "TOA", version 1). Keep in step with that header.

export const FAMILY_NAME = 'TOA';
export const FAMILY_VERSION = 1;

export const Cmd = { GET_STATS: 1, GET_CONFIG: 2, SET_CONFIG: 3, LOOKUP: 4 } as const;

export const Attr = {
  STATS: 1,
  TRUST: 2,
  FORMATS: 3,
  ENABLED: 4,
  STASH_MAX: 5,
  STASH_TTL_MS: 6,
  VERSION: 7,
  TUPLE: 8,
  PEER: 9,
} as const;

export const StatsAttr = { STAT: 1 } as const;
export const StatAttr = { ID: 1, NAME: 2, VALUE: 3, PAD: 4 } as const;
export const TrustAttr = { CIDR: 1 } as const;
export const CidrAttr = { FAMILY: 1, ADDR: 2, PREFIX: 3 } as const;
export const TupleAttr = { FAMILY: 1, LOCAL_ADDR: 2, LOCAL_PORT: 3, REMOTE_ADDR: 4, REMOTE_PORT: 5 } as const;
export const PeerAttr = {
  FAMILY: 1,
  ADDR: 2,
  PORT: 3,
  LB_FAMILY: 4,
  LB_ADDR: 5,
  LB_PORT: 6,
  FORMAT: 7,
  SEEN: 8,
} as const;

/** Linux address families as the header carries them. */
export const AF_INET = 2;
export const AF_INET6 = 10;
