// The one TOA codec: formats, option blocks, addresses, the decoder, the vector corpus, and the
// IPv4/IPv6 and TCP segment codec that carries them.

export { addressFamily, addressToText, textToAddress } from './addr.js';
export {
  checkMask,
  DEFAULT_FORMATS,
  FORMAT_NAMES,
  FORMATS,
  type Format,
  type FormatName,
  formatSpec,
  formatsToMask,
  HOSTID_EXID,
  isFormatName,
  KIND28_VERSION,
  type Layout,
  maskToFormats,
  parseFormats,
  toMask,
} from './formats.js';
export { fromHex, toHex } from './hex.js';
export {
  buildIp,
  checksum,
  type IpBuild,
  type IpPacket,
  PROTO_TCP,
  parseIp,
  pseudoHeaderSum,
  sum16,
} from './ip.js';
export {
  decodeOptions,
  encodeOptions,
  KIND,
  MAX_OPTIONS_LEN,
  type OptionAt,
  type OptionInput,
  optionName,
  readOption,
  type TcpOption,
  type WalkError,
} from './options.js';
export {
  ACK,
  buildSegment,
  checkOptions,
  encodeTcp,
  FIN,
  findOption,
  flagText,
  mssOption,
  type ParsedSegment,
  PSH,
  parseSegment,
  RST,
  type Segment,
  type SegmentBuild,
  SYN,
  URG,
} from './tcp.js';
export { encodeToa, parseToa, REASONS, type Reason, type Toa, type ToaInput, type ToaResult } from './toa.js';
export {
  canonicalLine,
  checkVectorFile,
  type Expect,
  type ExpectToa,
  expectLine,
  harnessInputLine,
  type Vector,
  type VectorFile,
  vectorFormats,
} from './vectors.js';
