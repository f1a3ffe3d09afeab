// A real client for the lab: curl run inside the client namespace from a chosen source address,
// returning the body and the local ip:port curl used (what the backend should see with toa.ko).
import { execFile } from 'node:child_process';
import { inNetns } from './netns.js';

export interface CurlOptions {
  netns: string;
  /** Source address (curl --interface). */
  from: string;
  url: string;
  /** A request body: sent as a POST. */
  upload?: Buffer;
  timeoutMs?: number;
}

export interface CurlResult {
  status: number;
  body: Buffer;
  localIp: string;
  localPort: number;
}

export function curl(o: CurlOptions): Promise<CurlResult> {
  const args = ['curl', '-sS', '--max-time', String((o.timeoutMs ?? 30_000) / 1000), '--interface', o.from];
  args.push('-w', '%{stderr}%{local_ip} %{local_port} %{http_code}\n');
  if (o.upload) args.push('--data-binary', '@-', '-H', 'content-type: application/octet-stream');
  args.push(o.url);
  const [cmd = 'ip', ...rest] = inNetns(o.netns, args);
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, rest, { encoding: 'buffer', maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const lines = stderr.toString().trim().split('\n');
      const [localIp = '', port = '', status = ''] = (lines.at(-1) ?? '').split(' ');
      if (err) {
        const why = err.code === 'ENOENT' ? 'ip or curl not found' : lines.join('; ');
        return reject(new Error(`curl ${o.url} from ${o.from} in ${o.netns}: ${why}`));
      }
      resolve({ status: Number(status), body: stdout, localIp, localPort: Number(port) });
    });
    child.stdin?.end(o.upload);
  });
}
