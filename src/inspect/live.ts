// Live capture through the optional npm package `cap` (libpcap). Loaded only when asked for, so
// file inspection and everything else work without the native addon. Needs CAP_NET_RAW (root).
import { createRequire } from 'node:module';
import { createPipeline, type InspectResult, type PipelineOptions, systemText } from './inspect.js';
import { LINKTYPE, linktypeName } from './link.js';

export interface LiveOptions extends PipelineOptions {
  iface: string;
  /** BPF, compiled by libpcap; a syntax error is bad input. */
  filter?: string;
  /** Stop after this many packets / seconds; otherwise at SIGINT or SIGTERM. */
  count?: number;
  duration?: number;
  /** Called once the capture is open (the CLI says so on stderr). */
  onOpen?: (linktypeName: string) => void;
}

// The part of cap's API used here (it ships no types).
interface CapHandle {
  open(device: string, filter: string, bufSize: number, buffer: Buffer): string;
  on(event: 'packet', listener: (nbytes: number, truncated: boolean) => void): void;
  close(): void;
  setMinBytes?(n: number): void;
}
interface CapModule {
  Cap: { new (): CapHandle; deviceList(): { name: string }[] };
}

// cap names the few link types it knows; libpcap's DLT_RAW data is raw IP (LINKTYPE_RAW in files).
const CAP_LINKTYPES: Record<string, number> = {
  NULL: LINKTYPE.NULL,
  ETHERNET: LINKTYPE.ETHERNET,
  LINKTYPE_LINUX_SLL: LINKTYPE.LINUX_SLL,
  RAW: LINKTYPE.RAW,
};

function loadCap(): CapModule {
  try {
    return createRequire(import.meta.url)('cap') as CapModule;
  } catch (e) {
    throw new Error(
      `live capture needs the optional package cap (libpcap), which is not installed or did not build (${systemText(e)}): install libpcap-dev, then npm install`,
    );
  }
}

export async function inspectLive(o: LiveOptions, out: (line: string) => void): Promise<InspectResult> {
  const { Cap } = loadCap();
  const names = Cap.deviceList().map((d) => d.name);
  // Checked first: libpcap would also print a warning of its own for an unknown device.
  if (!names.includes(o.iface))
    throw new Error(`no interface ${o.iface} here (libpcap sees: ${names.join(', ')})`);
  const cap = new Cap();
  const buffer = Buffer.alloc(65536);
  let name: string;
  try {
    name = cap.open(o.iface, o.filter ?? '', 16 << 20, buffer);
  } catch (e) {
    throw new Error(`${o.iface}: ${systemText(e)}${o.filter ? ` (filter: ${o.filter})` : ''}`);
  }
  const linktype = CAP_LINKTYPES[name];
  if (linktype === undefined) {
    cap.close();
    throw new Error(`${o.iface}: link type ${name}, which toa inspect cannot decode`);
  }
  cap.setMinBytes?.(0);
  const pipeline = createPipeline(o, out);
  o.onOpen?.(linktypeName(linktype));

  const frame = {
    index: 0,
    offset: 0,
    ts: 0,
    tsSec: 0,
    tsNsec: 0,
    linktype,
    origLen: 0,
    caplen: 0,
    buf: new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength),
    start: 0,
  };
  try {
    await new Promise<void>((resolve, reject) => {
      let done = false;
      const stop = (err?: unknown) => {
        if (done) return;
        done = true;
        clearInterval(ticker);
        if (timer) clearTimeout(timer);
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        cap.close();
        if (err) reject(err);
        else resolve();
      };
      const onSignal = () => stop();
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      const ticker = setInterval(() => pipeline.tick(Date.now() / 1000), 500);
      const timer = o.duration ? setTimeout(() => stop(), o.duration * 1000) : undefined;
      cap.on('packet', (nbytes, truncated) => {
        if (done) return;
        try {
          // cap gives no capture time and no wire length: now, and "longer" when cut.
          const now = Date.now();
          frame.tsSec = Math.floor(now / 1000);
          frame.tsNsec = (now % 1000) * 1e6;
          frame.ts = now / 1000;
          frame.caplen = nbytes;
          frame.origLen = truncated ? nbytes + 1 : nbytes;
          pipeline.frame(frame);
          frame.index++;
          if (o.count && frame.index >= o.count) stop();
        } catch (e) {
          stop(e);
        }
      });
    });
    return pipeline.finish();
  } finally {
    pipeline.close();
  }
}
