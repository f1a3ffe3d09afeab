// `toa agent` as the DaemonSet's pod (src/lab/pod.ts), for pod.test.ts: its log, its metrics port
// reached from inside the pod's network namespace (named, so a TUN peer can join it too), ready
// timed from the start. And a node's /usr/src in Debian's own layout for the build path, built
// from the lab kernel's unpacked headers so that it resolves inside the pod.
import { type ChildProcess, execFileSync, spawnSync } from 'node:child_process';
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { type PodOptions, podPid, runPod, stopPod } from '../../src/lab/pod.js';
import { getIn, waitForLog } from '../bench/agent.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface AgentPod {
  pod: ChildProcess;
  /** The pod's network namespace, by name. */
  ns: string;
  /** The ConfigMap volumes' files: WORK/volumes/NAME (writeConfigMap there updates them). */
  work: string;
  log(): string;
  waitLog(text: string, timeoutMs?: number): Promise<void>;
  get(path: string): Promise<[number, string]>;
  /** ms from the pod's start to its first 200 on /readyz. */
  waitReady(timeoutMs?: number): Promise<number>;
  /** The kubelet's stop (SIGTERM, SIGKILL after the grace period): the exit code or 'SIGKILL'. */
  stop(graceSeconds?: number): Promise<number | NodeJS.Signals>;
}

let count = 0;

export async function startAgentPod(o: Omit<PodOptions, 'workDir'>): Promise<AgentPod> {
  const work = mkdtempSync('/tmp/toa-pod-agent-');
  const started = performance.now();
  const pod = runPod({ ...o, workDir: work });
  let log = '';
  for (const s of [pod.stdout, pod.stderr])
    s?.on('data', (c: Buffer) => {
      log += c.toString();
    });
  const waitLog = (text: string, timeoutMs = 120000) =>
    waitForLog(() => log, text, { timeoutMs, alive: () => pod.exitCode === null });
  const ns = `toapod-${process.pid}-${++count}`;
  const get = (path: string) => getIn(ns, o.manifest.metricsPort, path);
  let stopped: Promise<number | NodeJS.Signals> | undefined;
  const stop = (graceSeconds = 30) => {
    stopped ??= stopPod(pod, graceSeconds).finally(() => {
      spawnSync('ip', ['netns', 'delete', ns]);
    });
    return stopped;
  };
  try {
    await waitLog(`toa agent on node ${o.nodeName}`);
    execFileSync('ip', ['netns', 'attach', ns, String(podPid(pod))]);
  } catch (e) {
    await stop(5);
    throw e;
  }
  return {
    pod,
    ns,
    work,
    log: () => log,
    waitLog,
    get,
    async waitReady(timeoutMs = 180000) {
      const end = Date.now() + timeoutMs;
      let r: [number, string] = [0, ''];
      while (Date.now() < end && pod.exitCode === null) {
        r = await get('/readyz');
        if (r[0] === 200) return performance.now() - started;
        // Final: the agent does not look for a module again.
        if (log.includes('not ready: no usable toa.ko')) break;
        await sleep(100);
      }
      throw new Error(`not ready (${r[0]} ${r[1]}):\n${log}`);
    },
    stop,
  };
}

/**
 * A node's /usr/src as Debian lays it out, in DIR: linux-headers-RELEASE (its entries linking
 * into the lab's unpacked tree, bind-mounted beside it, scripts/tools linking to
 * ../../lib/linux-kbuild-V as Debian's do, the Makefile in Debian's form: `include
 * /usr/src/...-common/Makefile`), the -common tree bind-mounted, and any extra sources copied in.
 * Mounted at /usr/src in the pod, every path resolves there. Returns the unmount.
 */
export function nodeUsrSrc(dir: string, modroot: string, release: string, extra: Record<string, string>) {
  const lab = join(modroot, 'usr/src');
  const common = readdirSync(lab).find((n) => n.startsWith('linux-headers-') && n.endsWith('-common'));
  const mounts: string[] = [];
  const bind = (from: string, to: string) => {
    mkdirSync(to, { recursive: true });
    execFileSync('mount', ['--bind', from, to]);
    mounts.unshift(to);
  };
  const unmount = () => {
    for (const m of mounts) spawnSync('umount', [m]);
  };
  try {
    const headers = `linux-headers-${release}`;
    bind(join(lab, headers), join(dir, `lab-${release}`));
    if (common) bind(join(lab, common), join(dir, common));
    mkdirSync(join(dir, headers));
    for (const name of readdirSync(join(lab, headers))) {
      const at = join(lab, headers, name);
      if (name === 'Makefile') {
        // test/vm/kernel.sh made the lab's relative to where it lies; Debian's names /usr/src.
        const text = readFileSync(at, 'utf8')
          .replace(/^lab_src := .*\n/, '')
          .replaceAll('$(lab_src)/', '/usr/src/');
        writeFileSync(join(dir, headers, name), text);
        continue;
      }
      let link = '';
      try {
        link = readlinkSync(at);
      } catch {
        // a real directory or file
      }
      const kbuild = (name === 'scripts' || name === 'tools') && link;
      symlinkSync(kbuild || `../lab-${release}/${name}`, join(dir, headers, name));
    }
    for (const [name, from] of Object.entries(extra)) cpSync(from, join(dir, name), { recursive: true });
  } catch (e) {
    unmount();
    throw e;
  }
  return unmount;
}
