// What the lab checks inside a pod (src/lab/pod.ts): the pod's command replaced by a Node script
// run by the image's own node, which reports what the container sees.
import { type PodOptions, runPod } from './pod.js';

export interface ProbeMount {
  /** Mount point, per-mount options (ro/rw), filesystem type, superblock options (tmpfs size). */
  target: string;
  options: string;
  fstype: string;
  superOptions: string;
}

export interface Probe {
  node: string;
  osRelease: string;
  pid: number;
  uid: number;
  hostname: string;
  cwd: string;
  env: Record<string, string>;
  /** /proc/self/status: CapInh, CapPrm, CapEff, CapBnd, CapAmb, NoNewPrivs. */
  status: Record<string, string>;
  mounts: ProbeMount[];
  /** errno code of a write there, or 'ok'. */
  writes: Record<string, string>;
  /** The ConfigMap directory: `..data`'s target and config.json read through the key's link. */
  config: { data: string; link: string; text: string };
  netns: string;
  links: string[];
  help: { status: number | null; stdout: string; stderr: string };
}

// Runs in the image's Node (CommonJS, `node -e`): no import from this repository.
const PROBE = `
const fs = require('fs'), cp = require('child_process');
const status = Object.fromEntries(fs.readFileSync('/proc/self/status', 'utf8').split('\\n')
  .filter((l) => /^(Cap\\w+|NoNewPrivs):/.test(l)).map((l) => l.split(/:\\s+/)));
const mounts = fs.readFileSync('/proc/self/mountinfo', 'utf8').trim().split('\\n').map((l) => {
  const f = l.split(' '), sep = f.indexOf('-');
  return { target: f[4], options: f[5], fstype: f[sep + 1], superOptions: f[sep + 3] };
});
const writes = {};
for (const dir of ['/', '/usr', '/tmp', '/var/lib/toa', '/etc/toa', '/lib/modules']) {
  try { fs.writeFileSync(dir.replace(/\\/?$/, '/.probe'), 'x'); fs.unlinkSync(dir.replace(/\\/?$/, '/.probe')); writes[dir] = 'ok'; }
  catch (e) { writes[dir] = e.code; }
}
const help = cp.spawnSync('toa', ['--help'], { encoding: 'utf8' });
process.stdout.write(JSON.stringify({
  node: process.version, osRelease: fs.readFileSync('/etc/os-release', 'utf8'), pid: process.pid,
  uid: process.getuid(), hostname: require('os').hostname(), cwd: process.cwd(), env: process.env,
  status, mounts, writes,
  config: { data: fs.readlinkSync('/etc/toa/..data'), link: fs.readlinkSync('/etc/toa/config.json'),
    text: fs.readFileSync('/etc/toa/config.json', 'utf8') },
  netns: fs.readlinkSync('/proc/self/ns/net'), links: fs.readdirSync('/sys/class/net'),
  help: { status: help.status, stdout: help.stdout, stderr: help.stderr },
}));
`;

/** Runs the pod with the probe in place of its command; resolves what the probe saw. */
export function probePod(o: Omit<PodOptions, 'argv'>): Promise<Probe> {
  const child = runPod({ ...o, argv: ['node', '-e', PROBE] });
  let out = '';
  let err = '';
  child.stdout?.on('data', (c: Buffer) => {
    out += c.toString();
  });
  child.stderr?.on('data', (c: Buffer) => {
    err += c.toString();
  });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`pod probe exited ${code}: ${err.trim()}`));
      try {
        resolve(JSON.parse(out) as Probe);
      } catch {
        reject(new Error(`pod probe printed no report: ${out.slice(0, 500)} ${err.trim()}`));
      }
    });
  });
}
