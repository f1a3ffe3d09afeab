// The TOA generic-netlink client: what the CLI and the agent call.
export { type Cidr, cidrToText, parseCidr } from './cidr.js';
export { genlHeader, openToa, requestPayload, type Toa } from './client.js';
export { type NetlinkError, parseNetlinkError, ToaError } from './errors.js';
export {
  type Config,
  type ConfigChange,
  decodeConfig,
  decodePeer,
  decodeStats,
  type Endpoint,
  encodeLookup,
  encodeSetConfig,
  type PeerInfo,
  type Seen,
  type Stat,
  type Tuple,
} from './messages.js';
export * as uapi from './uapi.js';
