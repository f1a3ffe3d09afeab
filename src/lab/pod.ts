// The lab's pod runner: runs the agent image's unpacked rootfs the way a kubelet and runc would run
// the DaemonSet's container, from the objects `toa k8s manifest` produces (never a restatement of
// them): command and args over the image's entrypoint and cmd, env, volumes (hostPath → bind
// mounts, emptyDir → tmpfs of its sizeLimit, ConfigMap → the kubelet's `..data` layout), a
// read-only root, exactly the manifest's capabilities, and fresh mount, PID, network, UTS and IPC
// namespaces (hostNetwork false). Needs root, util-linux's unshare and libcap's capsh.
import { type ChildProcess, spawn } from 'node:child_process';
import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join, posix } from 'node:path';
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';
import type { IVolume } from 'kubernetes-models/v1/Volume';
import { manifestDocs } from '../k8s/manifest.js';
import type { ManifestOptions } from '../k8s/options.js';

/** The part of an OCI image config a runtime uses to start a container. */
export interface ImageConfig {
  Entrypoint?: string[];
  Cmd?: string[];
  Env?: string[];
  WorkingDir?: string;
}

export interface PodOptions {
  /** What `toa k8s manifest` is asked for; the pod is its DaemonSet's. */
  manifest: ManifestOptions;
  /** image/build.sh's output directory: `rootfs/` and `config.json`. */
  image: string;
  /** The node's paths as the lab has them: a hostPath's path → the directory that stands for it. */
  hostPaths?: Record<string, string>;
  /** spec.nodeName, for fieldRef env. */
  nodeName?: string;
  /** Replaces the container's command and args (a probe), resolved like a command. */
  argv?: string[];
  /** Where the ConfigMap volumes' files live (default: a new directory under /tmp). */
  workDir?: string;
}

type Volume =
  | { kind: 'bind'; source: string; type: string }
  | { kind: 'tmpfs'; bytes: number }
  | { kind: 'configMap'; data: Record<string, string> };

export interface PodMount {
  name: string;
  path: string;
  readOnly: boolean;
  volume: Volume;
}

/** What the runner does, derived from the manifest: pure, so a host test can check it. */
export interface PodPlan {
  argv: string[];
  env: string[];
  workingDir: string;
  readOnlyRoot: boolean;
  noNewPrivs: boolean;
  /** Capability numbers kept in the bounding, permitted and effective sets. */
  caps: number[];
  mounts: PodMount[];
  hostNetwork: boolean;
  /** How long a stop waits after SIGTERM before SIGKILL. */
  graceSeconds: number;
}

// The capabilities' numbers (linux/capability.h) for the names a manifest may add.
const CAPS: Record<string, number> = {
  CHOWN: 0,
  DAC_OVERRIDE: 1,
  FOWNER: 3,
  KILL: 5,
  SETGID: 6,
  SETUID: 7,
  NET_BIND_SERVICE: 10,
  NET_RAW: 13,
  NET_ADMIN: 12,
  SYS_MODULE: 16,
  SYS_CHROOT: 18,
  SYS_PTRACE: 19,
  SYS_ADMIN: 21,
  BPF: 39,
};

const UNITS: Record<string, number> = {
  '': 1,
  Ki: 1024,
  Mi: 1024 ** 2,
  Gi: 1024 ** 3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
};

/** A Kubernetes quantity (e.g. `512Mi`) in bytes. */
export function quantityBytes(q: string): number {
  const m = /^(\d+)(Ki|Mi|Gi|k|M|G|)$/.exec(q);
  if (!m) throw new Error(`quantity ${q}: the runner reads whole numbers with Ki, Mi, Gi, k, M or G`);
  return Number(m[1]) * (UNITS[m[2] as string] as number);
}

function volumeOf(
  v: IVolume,
  configMaps: Map<string, Record<string, string>>,
  hostPaths: Record<string, string>,
): Volume {
  if (v.hostPath)
    return {
      kind: 'bind',
      source: hostPaths[v.hostPath.path] ?? v.hostPath.path,
      type: v.hostPath.type ?? '',
    };
  if (v.emptyDir) {
    const limit = v.emptyDir.sizeLimit;
    if (typeof limit !== 'string')
      throw new Error(`volume ${v.name}: an emptyDir needs a sizeLimit for the runner's tmpfs`);
    return { kind: 'tmpfs', bytes: quantityBytes(limit) };
  }
  if (v.configMap) {
    const data = configMaps.get(v.configMap.name ?? '');
    if (!data) throw new Error(`volume ${v.name}: ConfigMap ${v.configMap.name} is not in the manifest`);
    return { kind: 'configMap', data };
  }
  throw new Error(`volume ${v.name}: the runner knows hostPath, emptyDir and configMap volumes only`);
}

export function readImageConfig(image: string): ImageConfig {
  const file = join(image, 'config.json');
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as ImageConfig;
  } catch (e) {
    throw new Error(`${file}: ${(e as Error).message}: build the image first (make image)`);
  }
}

export function podPlan(o: PodOptions, image: ImageConfig = readImageConfig(o.image)): PodPlan {
  const docs = manifestDocs(o.manifest).map((d) => d.value as { kind: string; metadata: { name: string } });
  const ds = docs.find((d) => d.kind === 'DaemonSet') as unknown as
    | { spec: { template: { spec: IPodSpec } } }
    | undefined;
  if (!ds) throw new Error('the manifest has no DaemonSet');
  const configMaps = new Map(
    docs
      .filter((d) => d.kind === 'ConfigMap')
      .map((d) => [d.metadata.name, (d as unknown as { data: Record<string, string> }).data]),
  );
  const pod = ds.spec.template.spec;
  const [c] = pod.containers;
  if (!c || pod.containers.length !== 1) throw new Error('the runner runs a pod of exactly one container');
  const sc = c.securityContext ?? {};
  if (sc.privileged) throw new Error('the runner does not run privileged containers');
  if ((sc.runAsUser ?? 0) !== 0) throw new Error('the runner runs containers as uid 0 only');
  const drop = sc.capabilities?.drop ?? [];
  if (!drop.includes('ALL'))
    throw new Error('the runner expects capabilities.drop [ALL] (the runtime default set is not modelled)');
  const caps = (sc.capabilities?.add ?? []).map((name) => {
    const n = CAPS[name];
    if (n === undefined) throw new Error(`capability ${name}: not in the runner's table (src/lab/pod.ts)`);
    return n;
  });

  // Kubernetes: command replaces the entrypoint and drops the image's cmd; args replace cmd.
  const argv = o.argv ?? [
    ...(c.command ?? image.Entrypoint ?? []),
    ...(c.args ?? (c.command ? [] : (image.Cmd ?? []))),
  ];
  const env = new Map(
    (image.Env ?? []).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]),
  );
  for (const e of c.env ?? []) {
    if (e.value !== undefined) env.set(e.name, e.value);
    else if (e.valueFrom?.fieldRef?.fieldPath === 'spec.nodeName') env.set(e.name, o.nodeName ?? 'lab-node');
    else throw new Error(`env ${e.name}: the runner knows values and the spec.nodeName fieldRef only`);
  }
  const volumes = new Map((pod.volumes ?? []).map((v) => [v.name, v]));
  const mounts = (c.volumeMounts ?? []).map((m): PodMount => {
    const v = volumes.get(m.name);
    if (!v) throw new Error(`volumeMount ${m.name}: no such volume in the pod`);
    return {
      name: m.name,
      path: m.mountPath,
      readOnly: m.readOnly === true,
      volume: volumeOf(v, configMaps, o.hostPaths ?? {}),
    };
  });
  return {
    argv,
    env: [...env].map(([k, v]) => `${k}=${v}`),
    workingDir: c.workingDir ?? image.WorkingDir ?? '/',
    readOnlyRoot: sc.readOnlyRootFilesystem === true,
    noNewPrivs: sc.allowPrivilegeEscalation === false,
    caps,
    mounts,
    hostNetwork: pod.hostNetwork === true,
    graceSeconds: pod.terminationGracePeriodSeconds ?? 30,
  };
}

/**
 * PATH inside ROOT as a chroot would resolve it (symlinks, absolute ones from ROOT), as a path
 * relative to ROOT; the missing tail is kept as it is.
 */
export function inRoot(root: string, path: string): string {
  const todo = path.split('/').filter(Boolean);
  const done: string[] = [];
  for (let hops = 0; todo.length; ) {
    const part = todo.shift() as string;
    if (part === '.') continue;
    if (part === '..') {
      done.pop();
      continue;
    }
    const here = join(root, ...done, part);
    let target: string | null = null;
    try {
      if (lstatSync(here).isSymbolicLink()) target = readlinkSync(here);
    } catch {
      return posix.join('/', ...done, part, ...todo);
    }
    if (target === null) {
      done.push(part);
      continue;
    }
    if (++hops > 40) throw new Error(`${path} in ${root}: too many symbolic links`);
    if (target.startsWith('/')) done.length = 0;
    todo.unshift(...target.split('/').filter(Boolean));
  }
  return posix.join('/', ...done);
}

/** The first PATH entry of ENV holding NAME in ROOT (a name with a slash is taken as it is). */
function lookPath(root: string, name: string, env: string[]): string {
  if (name.includes('/')) return name;
  const path = env.find((e) => e.startsWith('PATH='))?.slice(5) ?? '/usr/local/bin:/usr/bin:/bin';
  for (const dir of path.split(':')) {
    const found = inRoot(root, posix.join(dir, name));
    try {
      if (lstatSync(join(root, found)).isFile()) return posix.join(dir, name);
    } catch {}
  }
  throw new Error(`${name}: not found on the image's PATH (${path}) in ${root}`);
}

/**
 * A ConfigMap volume's files as the kubelet writes them: the data in a timestamped directory,
 * `..data` a link to it, each key a link through `..data`. A new call swaps `..data` atomically,
 * as a ConfigMap update does on a node.
 */
export function writeConfigMap(dir: string, data: Record<string, string>): void {
  mkdirSync(dir, { recursive: true });
  // ..YYYY_MM_DD_hh_mm_ss.NNNNNNNNN, as the kubelet names them (the fraction unique per call).
  const now = new Date().toISOString().replace(/[-:T]/g, '_').slice(0, 19);
  const stamp = `..${now}.${String(process.hrtime.bigint() % 1_000_000_000n).padStart(9, '0')}`;
  mkdirSync(join(dir, stamp));
  for (const [key, value] of Object.entries(data)) writeFileSync(join(dir, stamp, key), value);
  let old: string | null = null;
  try {
    old = readlinkSync(join(dir, '..data'));
  } catch {}
  symlinkSync(stamp, join(dir, '..data_tmp'));
  renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
  for (const key of Object.keys(data)) {
    try {
      symlinkSync(`..data/${key}`, join(dir, key));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
  if (old) rmSync(join(dir, old), { recursive: true, force: true });
}

const q = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

function checkHostPath(m: PodMount & { volume: { kind: 'bind' } }): void {
  const { source, type } = m.volume;
  let st: ReturnType<typeof lstatSync>;
  try {
    st = lstatSync(source);
  } catch {
    throw new Error(
      `volume ${m.name}: hostPath ${source} does not exist (a kubelet would not start the pod)`,
    );
  }
  if (type === 'Directory' && !st.isDirectory())
    throw new Error(`volume ${m.name}: hostPath ${source} is not a directory`);
  if (type === 'CharDevice' && !st.isCharacterDevice())
    throw new Error(`volume ${m.name}: hostPath ${source} is not a character device`);
}

/** The shell script the new namespaces run: mounts as runc makes them, then capsh chroots and execs. */
function podScript(plan: PodPlan, root: string, stage: string, work: string, lastCap: number): string {
  const r = `${stage}/root`;
  const at = (path: string) => q(r + inRoot(root, path));
  const lines = [
    'set -eu',
    'fail() { echo "pod: $*" >&2; exit 125; }',
    `mount -t tmpfs -o mode=0755,size=1m toa-pod ${q(stage)}`,
    `mkdir ${q(r)}`,
    `mount --bind ${q(root)} ${q(r)}`,
    plan.readOnlyRoot ? `mount -o remount,bind,ro ${q(r)}` : '',
    `mount -t proc -o nosuid,nodev,noexec proc ${q(`${r}/proc`)}`,
    // Not privileged: the node's /sys read-only (the pod's own network devices in it).
    `mount -t sysfs -o ro,nosuid,nodev,noexec sysfs ${q(`${r}/sys`)}`,
    `mount -t tmpfs -o nosuid,mode=0755,size=64k dev ${q(`${r}/dev`)}`,
    `for d in null zero full random urandom tty; do touch ${q(r)}/dev/$d; mount --bind /dev/$d ${q(r)}/dev/$d; done`,
    `mkdir -p ${q(`${r}/dev/pts`)} ${q(`${r}/dev/shm`)}`,
    `mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts ${q(`${r}/dev/pts`)}`,
    `ln -s pts/ptmx ${q(`${r}/dev/ptmx`)} && ln -s /proc/self/fd ${q(`${r}/dev/fd`)}`,
    `mount -t tmpfs -o nosuid,nodev,noexec,size=64m shm ${q(`${r}/dev/shm`)}`,
  ];
  for (const m of plan.mounts) {
    const t = at(m.path);
    const file = m.volume.kind === 'bind' && m.volume.type === 'CharDevice';
    lines.push(
      file
        ? `[ -e ${t} ] || { mkdir -p "$(dirname ${t})" && touch ${t}; } 2>/dev/null || fail 'no mount point ${m.path} in the image (its root is read-only): image/build.sh makes them'`
        : `[ -d ${t} ] || mkdir -p ${t} 2>/dev/null || fail 'no mount point ${m.path} in the image (its root is read-only): image/build.sh makes them'`,
    );
    const v = m.volume;
    if (v.kind === 'bind') lines.push(`mount --rbind ${q(v.source)} ${t}`);
    if (v.kind === 'tmpfs')
      lines.push(`mount -t tmpfs -o nosuid,nodev,mode=0777,size=${v.bytes} ${q(m.name)} ${t}`);
    if (v.kind === 'configMap') lines.push(`mount --bind ${q(`${work}/volumes/${m.name}`)} ${t}`);
    if (m.readOnly) lines.push(`mount -o remount,bind,ro ${t}`);
  }
  const keep = new Set(plan.caps);
  const drop = Array.from({ length: lastCap + 1 }, (_, i) => i).filter((i) => !keep.has(i));
  if (!plan.hostNetwork) lines.push('ip link set lo up');
  lines.push('echo toa-lab-pod >/proc/sys/kernel/hostname');
  // capsh: chroot while it still may, then the bounding set, no inheritable or ambient, no new
  // privileges; execve as uid 0 makes permitted = effective = the bounding set.
  const [cmd, ...args] = plan.argv;
  const exe = lookPath(root, cmd as string, plan.env);
  lines.push(
    `cd ${q(r + inRoot(root, plan.workingDir))}`,
    [
      'exec env -i',
      ...plan.env.map(q),
      '/usr/sbin/capsh',
      `--chroot=${q(r)}`,
      `--drop=${drop.join(',')}`,
      '--inh=',
      '--noamb',
      ...(plan.noNewPrivs ? ['--no-new-privs'] : []),
      `--shell=${q(exe)}`,
      '--',
      ...args.map(q),
    ].join(' '),
  );
  return lines.filter(Boolean).join('\n');
}

/**
 * Starts the pod; its process (unshare, whose child is the container's PID 1) is returned with
 * stdio piped. The ConfigMap volumes' files are under WORKDIR/volumes/NAME (writeConfigMap()
 * there updates them live); WORKDIR is removed when the pod exits.
 */
export function runPod(o: PodOptions): ChildProcess {
  const plan = podPlan(o);
  const root = join(o.image, 'rootfs');
  for (const m of plan.mounts)
    if (m.volume.kind === 'bind') checkHostPath(m as PodMount & { volume: { kind: 'bind' } });
  const work = o.workDir ?? mkdtempSync('/tmp/toa-pod-');
  for (const m of plan.mounts)
    if (m.volume.kind === 'configMap') writeConfigMap(join(work, 'volumes', m.name), m.volume.data);
  const stage = join(work, 'stage');
  mkdirSync(stage, { recursive: true });
  const lastCap = Number(readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8'));
  const script = podScript(plan, root, stage, work, lastCap);
  const ns = ['--mount', '--pid', '--uts', '--ipc', ...(plan.hostNetwork ? [] : ['--net'])];
  const child = spawn(
    'unshare',
    [...ns, '--fork', '--kill-child', '--propagation', 'private', '--', 'bash', '-c', script],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  child.on('exit', () => {
    if (!o.workDir) rmSync(work, { recursive: true, force: true });
  });
  return child;
}

/**
 * The container's PID 1 (unshare's only child), in the guest's PID namespace: for nsenter into
 * the pod's network namespace (its metrics port) or a signal.
 */
export function podPid(pod: ChildProcess): number {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid === pod.pid) return Number(entry);
  }
  throw new Error(`pod ${pod.pid}: no container process (not started yet, or exited)`);
}

/**
 * Stops the pod as the kubelet does: SIGTERM to its PID 1 (delivered only if it handles it, as
 * for any PID namespace's init), SIGKILL after the grace period (the manifest's
 * terminationGracePeriodSeconds: podPlan().graceSeconds). Resolves the pod's exit code, or
 * 'SIGKILL' when the grace period ran out.
 */
export function stopPod(pod: ChildProcess, graceSeconds: number): Promise<number | NodeJS.Signals> {
  return new Promise((resolve) => {
    if (pod.exitCode !== null || pod.signalCode !== null)
      return resolve(pod.exitCode ?? (pod.signalCode as NodeJS.Signals));
    let pid1 = 0;
    let killed = false;
    const kill = setTimeout(() => {
      killed = true;
      try {
        process.kill(pid1, 'SIGKILL');
      } catch {}
    }, graceSeconds * 1000);
    // unshare exits 1 for a child killed by a signal: the kill is told apart here.
    pod.once('exit', (code, signal) => {
      clearTimeout(kill);
      resolve(killed ? 'SIGKILL' : (code ?? (signal as NodeJS.Signals)));
    });
    pid1 = podPid(pod);
    process.kill(pid1, 'SIGTERM');
  });
}
