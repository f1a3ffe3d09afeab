// What `toa inspect` prints: one line per connection for people, one JSON object per line for
// tools (field names are a stable interface, listed in README), and the totals.
import { type Anomaly, type Connection, clientText } from './track.js';

export interface Totals {
  packets: number;
  tcp: number;
  /** Not TCP over IPv4/IPv6: ARP, UDP, fragments, ... */
  other: number;
  /** Cut by the snaplen (or shorter than their IP header says): reported, not decoded. */
  truncated: number;
  untracked: number;
  connections: number;
  established: number;
  reset: number;
  incomplete: number;
  withToa: number;
  validToa: number;
  formats: Record<string, number>;
  anomalies: Record<string, number>;
}

export function newTotals(): Totals {
  return {
    packets: 0,
    tcp: 0,
    other: 0,
    truncated: 0,
    untracked: 0,
    connections: 0,
    established: 0,
    reset: 0,
    incomplete: 0,
    withToa: 0,
    validToa: 0,
    formats: {},
    anomalies: {},
  };
}

export function countConnection(t: Totals, c: Connection): void {
  t.connections++;
  // Named fields, not t[c.outcome]: a computed key makes this a slow generic access per connection.
  if (c.outcome === 'established') t.established++;
  else if (c.outcome === 'reset') t.reset++;
  else t.incomplete++;
  if (c.toa) {
    t.withToa++;
    t.formats[c.toa.format] = (t.formats[c.toa.format] ?? 0) + 1;
  }
  if (c.validToa) t.validToa++;
  for (const a of c.anomalies) t.anomalies[a.kind] = (t.anomalies[a.kind] ?? 0) + 1;
}

function hostPort(addr: string, port: number): string {
  return addr.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`;
}

/** Capture times are shown and exported to the microsecond. */
const micros = (ts: number) => Math.round(ts * 1e6);

function clock(ts: number): string {
  const us = micros(ts);
  const d = new Date(Math.floor(us / 1000));
  return `${d.toISOString().slice(11, 19)}.${String(us % 1e6).padStart(6, '0')}`;
}

function anomalyText(a: Anomaly): string {
  const where = a.segment ? ` in ${a.segment}` : '';
  return `${a.severity === 'info' ? 'note' : 'ANOMALY'} ${a.kind}${where}: ${a.detail}`;
}

/** `#3 07:36:05.123456 198.51.100.1:40000 > 198.51.100.2:80 established toa 203.0.113.7:8080 254/8 in ack,data` */
export function connectionLine(c: Connection): string {
  let line = `#${c.id} ${clock(c.ts)} ${hostPort(c.lb, c.lbPort)} > ${hostPort(c.backend, c.backendPort)} ${c.outcome}`;
  if (c.toa) {
    line += ` toa ${clientText(c.toa)} ${c.toa.format} in ${c.toaIn.join(',')}`;
    if (c.toa.vip) line += ` vip ${hostPort(c.toa.vip.address, c.toa.vip.port)}`;
    if (c.retransmits) line += ` (${c.retransmits} retransmitted)`;
  } else line += ' no toa';
  for (const a of c.anomalies) line += ` | ${anomalyText(a)}`;
  return line;
}

/** The --json object of a connection; see README for the fields. */
export function connectionJson(c: Connection): string {
  return JSON.stringify({
    type: 'connection',
    id: c.id,
    frame: c.frame,
    ts: micros(c.ts) / 1e6,
    family: c.family,
    lb: c.lb,
    lbPort: c.lbPort,
    backend: c.backend,
    backendPort: c.backendPort,
    outcome: c.outcome,
    handshake: c.handshake,
    toa: c.toa
      ? {
          format: c.toa.format,
          kind: c.toa.kind,
          family: c.toa.family,
          address: c.toa.address,
          port: c.toa.port,
          offset: c.toa.offset,
          vip: c.toa.vip ?? null,
        }
      : null,
    toaIn: c.toaIn,
    retransmits: c.retransmits,
    validToa: c.validToa,
    anomalies: c.anomalies,
    packets: c.packets,
  });
}

export function summaryJson(t: Totals): string {
  return JSON.stringify({ type: 'summary', ...t });
}

export function summaryText(t: Totals): string {
  const kv = (r: Record<string, number>) =>
    Object.entries(r)
      .map(([k, n]) => `${k} ${n}`)
      .join(', ') || 'none';
  return [
    `packets ${t.packets}: tcp ${t.tcp}, other ${t.other}, truncated ${t.truncated}, untracked ${t.untracked}`,
    `connections ${t.connections}: established ${t.established}, reset ${t.reset}, incomplete ${t.incomplete}`,
    `toa ${t.withToa} (valid ${t.validToa}), formats: ${kv(t.formats)}`,
    `anomalies: ${kv(t.anomalies)}`,
  ].join('\n');
}
