// What apps import (tcp-toa/binding): originalPeer() and which binding serves it.
export type { Endpoint, Family, OriginalPeer, SeenIn } from './decode.js';
export { bindingKind } from './load.js';
export { originalPeer } from './peer.js';
export type { BindingKind } from './syscalls.js';
