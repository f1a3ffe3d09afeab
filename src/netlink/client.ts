// The TOA control plane over generic netlink: openToa() -> stats, config, setConfig, lookup.
// The generic-netlink part only: the package's index also loads its rtnetlink and nl80211 tables
// (1.4 MB of generated code, about 1.5 s of the agent's startup under the lab's emulation).
import { createGenericNetlink, type GenericNetlinkSocket } from 'netlink/dist/genl/genl.js';
import * as genl from 'netlink/dist/genl/structs.js';
import { concat } from './attrs.js';
import { parseNetlinkError, ToaError } from './errors.js';
import { enableExtAck } from './extack.js';
import {
  type Config,
  type ConfigChange,
  decodeConfig,
  decodePeer,
  decodeStats,
  encodeLookup,
  encodeSetConfig,
  type PeerInfo,
  type Stat,
  type Tuple,
} from './messages.js';
import { Cmd, FAMILY_NAME, FAMILY_VERSION } from './uapi.js';

const NLMSG_ERROR = 2;
const TIMEOUT_MS = 5000;

export interface Toa {
  /** Every counter of /proc/net/toa_stats, in its order. */
  stats(): Promise<Stat[]>;
  config(): Promise<Config>;
  /** Needs CAP_NET_ADMIN; trust list, formats and switch apply together or not at all. */
  setConfig(change: ConfigChange): Promise<void>;
  /** The TOA of an established connection in this process's network namespace. */
  lookup(tuple: Tuple): Promise<PeerInfo>;
  /** Low level: send @attrs as @cmd unchecked, get the reply's attributes (tests, debugging). */
  request(op: string, cmd: number, attrs: Uint8Array): Promise<Uint8Array>;
  close(): void;
}

/** struct genlmsghdr: cmd, version, reserved u16. */
export const genlHeader = (cmd: number) => Uint8Array.of(cmd, FAMILY_VERSION, 0, 0);

/** The payload of a TOA request: genlmsghdr and attributes, as it goes on the wire. */
export const requestPayload = (cmd: number, attrs: Uint8Array) => concat([genlHeader(cmd), attrs]);

const NOT_LOADED = `generic netlink family ${FAMILY_NAME} not found: toa.ko is not loaded (load it: toa load, or insmod toa.ko)`;

async function resolveFamily(sock: GenericNetlinkSocket): Promise<number> {
  try {
    const [reply] = await sock.ctrlRequest(
      genl.Commands.GET_FAMILY,
      { familyName: FAMILY_NAME },
      {
        timeout: TIMEOUT_MS,
      },
    );
    if (reply?.familyId === undefined) throw new Error(NOT_LOADED);
    return reply.familyId;
  } catch (e) {
    if (/ENOENT/.test((e as Error).message)) throw new Error(NOT_LOADED);
    throw e;
  }
}

export async function openToa(): Promise<Toa> {
  const sock = createGenericNetlink();
  let family: number;
  try {
    enableExtAck(sock.socket.address().port);
    family = await resolveFamily(sock);
  } catch (e) {
    sock.socket.close();
    throw e;
  }

  async function request(op: string, cmd: number, attrs: Uint8Array): Promise<Uint8Array> {
    const [msgs] = await sock.socket.request(family, [requestPayload(cmd, attrs)], {
      checkError: false,
      timeout: TIMEOUT_MS,
    });
    const m = msgs[0];
    if (!m) throw new Error(`TOA ${op}: empty reply`);
    if (m.type === NLMSG_ERROR) {
      const err = parseNetlinkError(m.data, m.flags);
      if (err.errno === 0) return new Uint8Array(0);
      throw new ToaError(op, err);
    }
    if (m.type !== family) throw new Error(`TOA ${op}: reply of message type ${m.type}, want ${family}`);
    return m.data.subarray(4);
  }

  return {
    stats: async () => decodeStats(await request('stats', Cmd.GET_STATS, new Uint8Array(0))),
    config: async () => decodeConfig(await request('config', Cmd.GET_CONFIG, new Uint8Array(0))),
    setConfig: async (change) => {
      await request('setConfig', Cmd.SET_CONFIG, encodeSetConfig(change));
    },
    lookup: async (tuple) => decodePeer(await request('lookup', Cmd.LOOKUP, encodeLookup(tuple))),
    request,
    close: () => sock.socket.close(),
  };
}
