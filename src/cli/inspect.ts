// `toa inspect`: flags -> inspectFile / inspectLive. Bad input of any kind is one line on stderr
// and exit 2.
import type { Command } from 'commander';
import { type InspectResult, inspectFile, type PipelineOptions } from '../inspect/inspect.js';
import { parseFormats } from '../wire/index.js';

interface Flags {
  read?: string;
  interface?: string;
  json?: boolean;
  summary?: boolean;
  trust?: string[];
  formats?: string;
  port?: string[];
  expectToa?: string[];
  write?: string;
  filter?: string;
  count?: string;
  duration?: string;
}

const list = (values: string[] | undefined) => (values ?? []).flatMap((v) => v.split(',')).filter(Boolean);

function ports(values: string[] | undefined, flag: string): number[] {
  return list(values).map((p) => {
    const n = Number(p);
    if (!/^\d+$/.test(p) || n > 65535) throw new Error(`${flag} ${p}: a port is 0..65535`);
    return n;
  });
}

function positive(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!(n > 0) || !Number.isFinite(n)) throw new Error(`${flag} ${value}: give a number above 0`);
  return n;
}

export function addInspectCommand(program: Command): void {
  program
    .command('inspect')
    .description('decode the TOA of every TCP handshake in a capture, and flag what is wrong')
    .option('-r, --read <file>', 'read a .pcap or .pcapng file (Ethernet/VLAN, Linux SLL/SLL2, raw IP)')
    .option('-i, --interface <iface>', 'capture live until Ctrl-C (root; needs the optional package cap)')
    .option('--json', 'one JSON object per line (fields in README)')
    .option('--summary', 'print only the totals')
    .option('--trust <cidr...>', 'load balancer addresses allowed to send TOA (IPv4/IPv6 CIDR, repeatable)')
    .option('--formats <list>', 'accepted TOA formats, e.g. 254/8,254/20,200/8 (default: 254/8,254/20)')
    .option('--port <port...>', 'only connections to these server ports; each must carry a TOA')
    .option('--expect-toa <port...>', 'exit 1 if a handshake to this port lacked a valid TOA (health check)')
    .option('-w, --write <out.pcap>', 'write the packets of the reported connections to a pcap file')
    .option(
      '--filter <bpf>',
      "only packets this BPF expression matches (tcpdump syntax), e.g. 'tcp port 443'",
    )
    .option('--count <n>', 'live: stop after n packets')
    .option('--duration <seconds>', 'live: stop after this long')
    .action(async (flags: Flags) => {
      // Lines go out in 64 KiB writes; what was found before an error is still printed.
      const chunks: string[] = [];
      let size = 0;
      const flush = () => {
        if (chunks.length) process.stdout.write(chunks.join(''));
        chunks.length = 0;
        size = 0;
      };
      const out = (line: string) => {
        chunks.push(`${line}\n`);
        size += line.length;
        // Live lines are for someone watching: no batching there.
        if (size > 1 << 16 || flags.interface !== undefined) flush();
      };
      try {
        const options: PipelineOptions = {
          json: flags.json === true,
          summary: flags.summary === true,
          trust: list(flags.trust),
          formats: flags.formats === undefined ? undefined : parseFormats(flags.formats),
          ports: ports(flags.port, '--port'),
          expectToa: ports(flags.expectToa, '--expect-toa'),
          write: flags.write,
        };
        const count = positive(flags.count, '--count');
        const duration = positive(flags.duration, '--duration');
        let result: InspectResult;
        if (flags.read !== undefined && flags.interface !== undefined)
          throw new Error('give either -r FILE or -i IFACE, not both');
        if (flags.interface !== undefined) {
          const iface = flags.interface;
          // Loaded for live capture only: reading a file starts faster without it.
          const { inspectLive } = await import('../inspect/live.js');
          result = await inspectLive(
            {
              ...options,
              iface,
              filter: flags.filter,
              count,
              duration,
              onOpen: (link) =>
                process.stderr.write(`toa inspect: capturing on ${iface} (${link}); Ctrl-C to stop\n`),
            },
            out,
          );
        } else {
          if (flags.read === undefined) throw new Error('give a capture file with -r FILE, or -i IFACE');
          if (count !== undefined || duration !== undefined)
            throw new Error('--count and --duration are for live capture (-i)');
          result = await inspectFile({ ...options, file: flags.read, filter: flags.filter }, out);
        }
        flush();
        for (const w of result.warnings) process.stderr.write(`toa inspect: warning: ${w}\n`);
        process.exitCode = result.exitCode;
      } catch (err) {
        flush();
        process.stderr.write(`toa inspect: ${oneLine(err)}\n`);
        process.exitCode = 2;
      }
    });
}

function oneLine(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.split('\n')[0] ?? msg;
}
