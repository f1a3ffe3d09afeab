// The lab peer: a TCP client on a TUN device inside a network namespace, putting any TCP option
// block in the SYN, the handshake-completing ACK or the first data segment.
export * from './netns.js';
export * from './peer.js';
export * from './server.js';
export * from './tun.js';
