// The lab: the peer (a TCP client on a TUN device inside a network namespace, putting any TCP
// option block in the SYN, the handshake-completing ACK or the first data segment), the FullNAT
// load balancer on TUN devices, and the HTTP backend and curl client the load balancer serves.
export * from './curl.js';
export * from './lb.js';
export * from './lb-run.js';
export * from './netns.js';
export * from './peer.js';
export * from './server.js';
export * from './tun.js';
export * from './whoami.js';
