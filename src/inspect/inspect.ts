// The inspect operation: frames -> IP/TCP (src/wire) -> connections -> lines. One pipeline,
// fed by a capture file (inspectFile) or an interface (live.ts). The CLI is a thin front.
import { closeSync, openSync } from 'node:fs';
import { DEFAULT_FORMATS, type FormatName, newSegmentView, toMask, viewSegment } from '../wire/index.js';
import { createFilter, FilterError } from './filter.js';
import {
  ipComplete,
  ipOffset,
  isSupportedLinktype,
  LINK_NOT_IP,
  linktypeName,
  supportedLinktypes,
} from './link.js';
import {
  connectionJson,
  connectionLine,
  countConnection,
  newTotals,
  summaryJson,
  summaryText,
  type Totals,
} from './output.js';
import { type CaptureRecord, captureError, readCapture, recordBytes } from './pcap-read.js';
import { createPcapWriter, type PcapWriter } from './pcap-write.js';
import { type Cidr, type Connection, createTracker, parseCidr } from './track.js';

export interface PipelineOptions {
  json?: boolean;
  /** Totals only, no line per connection. */
  summary?: boolean;
  trust?: readonly string[];
  formats?: readonly FormatName[];
  /** Only connections to these server ports (each must carry a TOA). */
  ports?: readonly number[];
  /** Ports whose handshakes must carry a valid TOA: the exit code is 1 otherwise. */
  expectToa?: readonly number[];
  /** Write the packets of the reported connections here (.pcap). */
  write?: string;
}

export interface InspectOptions extends PipelineOptions {
  file: string;
  /** BPF (libpcap syntax): only the frames it matches are inspected, as if the file held no others. */
  filter?: string;
}

export interface InspectResult {
  /** 0, or 1 when a connection to an --expect-toa/--port port had an error anomaly. */
  exitCode: 0 | 1;
  totals: Totals;
  /** Things to say on stderr (not errors). */
  warnings: string[];
}

/** The frame fields the pipeline uses: a CaptureRecord, or what a live capture gives. */
export type Frame = Pick<
  CaptureRecord,
  'index' | 'offset' | 'ts' | 'tsSec' | 'tsNsec' | 'linktype' | 'origLen' | 'caplen' | 'buf' | 'start'
>;

export interface Pipeline {
  frame(r: Frame): void;
  /** Time passes without packets (live capture): lets idle handshakes be reported. */
  tick(now: number): void;
  finish(): InspectResult;
  /** Close the -w file, whatever happened. */
  close(): void;
}

export function createPipeline(o: PipelineOptions, out: (line: string) => void): Pipeline {
  const trust: Cidr[] | null = o.trust && o.trust.length > 0 ? o.trust.map(parseCidr) : null;
  const expect = new Set(o.expectToa ?? []);
  const ports = o.ports && o.ports.length > 0 ? new Set(o.ports) : null;
  for (const p of ports ?? []) expect.add(p);
  const totals = newTotals();
  let failed = false;

  const report = (c: Connection) => {
    countConnection(totals, c);
    if (expect.has(c.backendPort) && c.anomalies.some((a) => a.severity === 'error')) failed = true;
    if (!o.summary) out(o.json ? connectionJson(c) : connectionLine(c));
  };
  const tracker = createTracker(
    { formats: toMask(o.formats ?? DEFAULT_FORMATS), trust, expect, ports },
    report,
  );

  if (o.write) {
    // Fail before reading anything when the output cannot be written.
    try {
      closeSync(openSync(o.write, 'w'));
    } catch (e) {
      throw new Error(`-w ${o.write}: ${systemText(e)}`);
    }
  }
  let writer: PcapWriter | undefined;
  let writeLinktype = -1;
  let notWritten = 0;
  let closed = false;
  let lastLinktype = -1; // checked supported
  const seg = newSegmentView();

  function writeFrame(r: Frame): void {
    if (!writer) {
      writeLinktype = r.linktype;
      writer = createPcapWriter(o.write as string, { linktype: r.linktype, nanos: true });
    }
    if (r.linktype !== writeLinktype) {
      notWritten++;
      return;
    }
    writer.write({ data: recordBytes(r), tsSec: r.tsSec, tsNsec: r.tsNsec, origLen: r.origLen });
  }

  return {
    frame(r) {
      totals.packets++;
      if (r.linktype !== lastLinktype) {
        if (!isSupportedLinktype(r.linktype))
          throw captureError(
            r.offset,
            `packet ${r.index + 1} is on ${linktypeName(r.linktype)}, which toa inspect cannot decode (it reads ${supportedLinktypes()})`,
          );
        lastLinktype = r.linktype;
      }
      const buf = r.buf;
      const end = r.start + r.caplen;
      const ip = ipOffset(r.linktype, buf, r.start, end);
      if (ip === LINK_NOT_IP) {
        totals.other++;
        return;
      }
      // Cut by the snaplen, or shorter than its IP header says: never decoded as if whole.
      if (ip < 0 || !ipComplete(buf, ip, end)) {
        totals.truncated++;
        return;
      }
      // Read in place: no copies, and no checksums (offloading leaves them wrong in captures).
      if (!viewSegment(buf, ip, seg, end)) {
        totals.other++;
        return;
      }
      totals.tcp++;
      if (tracker.segment(buf, seg, r) && o.write) writeFrame(r);
    },
    tick: (now) => tracker.tick(now),
    close() {
      if (closed) return;
      closed = true;
      // An empty capture still leaves a valid (empty) pcap behind.
      if (!writer && o.write) writer = createPcapWriter(o.write, { linktype: 1, nanos: true });
      writer?.close();
    },
    finish() {
      tracker.flush();
      totals.untracked = tracker.untracked();
      const warnings: string[] = [];
      if (totals.truncated > 0)
        warnings.push(
          `${totals.truncated} packet(s) were cut by the snaplen or shorter than their IP header says: not decoded (capture with -s 0)`,
        );
      if (notWritten > 0)
        warnings.push(
          `${notWritten} packet(s) on another link type than the first were not written: -w holds one`,
        );
      if (o.summary) out(o.json ? summaryJson(totals) : summaryText(totals));
      return { exitCode: failed ? 1 : 0, totals, warnings };
    },
  };
}

export async function inspectFile(o: InspectOptions, out: (line: string) => void): Promise<InspectResult> {
  const filter = o.filter === undefined ? undefined : await createFilter(o.filter);
  const pipeline = createPipeline(o, out);
  const frame = filter
    ? (r: Frame) => {
        if (filter.match(r)) pipeline.frame(r);
      }
    : pipeline.frame;
  try {
    await readCapture(o.file, frame);
    return pipeline.finish();
  } catch (e) {
    if (e instanceof FilterError) throw e;
    throw new Error(`${o.file}: ${systemText(e)}`);
  } finally {
    pipeline.close();
  }
}

/** An error as one line: system errors in words, others by their message. */
export function systemText(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EACCES') return 'permission denied';
  if (code === 'EISDIR') return 'is a directory, not a file';
  const msg = err instanceof Error ? err.message : String(err);
  return msg.split('\n')[0] ?? msg;
}
