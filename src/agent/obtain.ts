// The agent's module, in the order that costs the node least: prebuilt for this exact release,
// else built from the node's headers (staged under the state directory), else a precise reason.
import { join } from 'node:path';
import { buildModule } from '../module/build.js';
import type { RunningKernel } from '../module/kernel.js';
import { type Candidate, findPrebuilt, inspectKo } from './choose.js';
import { stageHeaders } from './headers.js';
import type { Log } from './log.js';

export type Source = 'prebuilt' | 'built' | 'failed';

export type Obtained =
  | { source: 'prebuilt' | 'built'; module: Candidate }
  | { source: 'failed'; reason: string };

export interface ObtainOptions {
  kernel: RunningKernel;
  prebuiltDir: string;
  /** false: never build (--prebuilt-only) */
  build: boolean;
  libModules: string;
  hostUsrLib: string;
  stateDir: string;
  /** The module's sources to build; default kmod/ in the package. */
  kmodSrc?: string;
  log: Log;
  /** Aborted when the agent stops: a running build is stopped. */
  signal?: AbortSignal;
}

export async function obtainModule(o: ObtainOptions): Promise<Obtained> {
  const release = o.kernel.release;
  const pre = findPrebuilt(o.prebuiltDir, o.kernel);
  if (pre.ok) {
    o.log(`module: prebuilt ${pre.module.ko} (version ${pre.module.version}) fits ${release}`);
    return { source: 'prebuilt', module: pre.module };
  }
  o.log(`module: ${pre.reason}`);
  if (!o.build)
    return {
      source: 'failed',
      reason: `${pre.reason}, and building is off (--prebuilt-only): ship a toa.ko for ${release} in the image's prebuilt directory`,
    };
  const staged = stageHeaders({
    release,
    libModules: o.libModules,
    hostUsrLib: o.hostUsrLib,
    stateDir: o.stateDir,
  });
  if (!staged.ok) return { source: 'failed', reason: staged.reason };
  const started = Date.now();
  o.log(`module: building for ${release} from the node's headers (${staged.dir}, ${staged.compiler})`);
  try {
    const r = await buildModule({
      kernel: release,
      headers: staged.dir,
      out: join(o.stateDir, 'build', release),
      ...(o.kmodSrc !== undefined && { src: o.kmodSrc }),
      onProgress: (line) => o.log(`build: ${line}`),
      ...(o.signal && { signal: o.signal }),
    });
    const built = inspectKo(r.ko, o.kernel);
    if (!built.ok) return { source: 'failed', reason: `the built module is unusable: ${built.reason}` };
    o.log(`module: built ${r.ko} (version ${built.module.version}) in ${Date.now() - started} ms`);
    return { source: 'built', module: built.module };
  } catch (e) {
    return { source: 'failed', reason: `building toa.ko for ${release} failed: ${(e as Error).message}` };
  }
}
