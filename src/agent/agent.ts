// `toa agent`: the DaemonSet's node agent (contract: src/k8s/README.md). One loop: config, then
// module (prebuilt, built or a precise failure), load, config over netlink, self-test in the
// pod's own namespace; the config directory watched and applied live; health and metrics served
// throughout. Every netlink or module operation runs one at a time (a config change arriving
// during the self-test waits for it, so the test's temporary trust entry never outlives it).
import type { Server } from 'node:http';
import type { AgentConfig } from '../k8s/config.js';
import { cidrContains } from '../module/config.js';
import { loadedModule, runningKernel } from '../module/kernel.js';
import { unloadModule } from '../module/unload.js';
import { type Step, verify } from '../module/verify.js';
import { openToa, type Stat } from '../netlink/index.js';
import { installModule } from './install.js';
import { type Log, stderrLog } from './log.js';
import { createMetrics } from './metrics.js';
import { obtainModule } from './obtain.js';
import { startServer } from './server.js';
import { type ConfigEvent, readConfig, type Watcher, watchConfig } from './watch.js';

export interface AgentOptions {
  config: string;
  metricsPort: number;
  stateDir: string;
  prebuiltDir: string;
  /** null: --prebuilt-only (no headers mounted) */
  hostUsrLib: string | null;
  libModules: string;
  unloadOnExit: boolean;
  node: string;
  kmodSrc?: string;
  /** Bind address of the HTTP server; default every address. */
  host?: string;
  log?: Log;
  /** Wait between failed self-tests. */
  verifyRetryMs?: number;
}

export interface Agent {
  server: Server;
  /** Resolves once the agent is ready, or stays pending. */
  ready: Promise<void>;
  notReady(): string | null;
  /** Stop watching and serving; with unloadOnExit, unload toa.ko first. */
  stop(why: string): Promise<void>;
}

/** The test load balancer of the self-test: a documentation address, trusted only during it. */
const VERIFY_LB = '198.51.100.2';

const trustOf = (c: AgentConfig) => (c.trust === 'any' ? [] : c.trust);

async function withToa<T>(fn: (toa: Awaited<ReturnType<typeof openToa>>) => Promise<T>): Promise<T> {
  // Opened per use: a reloaded module registers its family again under a new id.
  const toa = await openToa();
  try {
    return await fn(toa);
  } finally {
    toa.close();
  }
}

export async function startAgent(o: AgentOptions): Promise<Agent> {
  const log = o.log ?? stderrLog;
  const kernel = runningKernel();
  let reason: string | null = 'starting';
  let installed = false;
  let stopping = false;
  // Stops a running build when the agent stops (make and its compilers get SIGTERM).
  const stopBuild = new AbortController();
  let obtaining: Promise<unknown> = Promise.resolve();
  const metrics = createMetrics(o.node, async (): Promise<Stat[] | null> => {
    if (!loadedModule()) return null;
    try {
      return await serial(() => withToa((t) => t.stats()));
    } catch {
      return null;
    }
  });
  // One operation at a time on the module and its config.
  let chain: Promise<unknown> = Promise.resolve();
  function serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = chain.then(fn, fn);
    chain = next.catch(() => {});
    return next;
  }
  const notReady = () => {
    if (reason === null && !loadedModule()) return 'toa.ko is no longer loaded (unloaded by someone else?)';
    return reason;
  };
  // Failures are logged; the steps on the way (announce false) only show on /readyz.
  const setReason = (why: string | null, announce = true) => {
    if (announce && why !== null && why !== reason) log(`not ready: ${why}`);
    reason = why;
    metrics.setReady(why === null);
  };
  const server = await startServer(o.metricsPort, { notReady }, metrics.registry, o.host);
  log(
    `toa agent on node ${o.node}, kernel ${kernel.release}: serving /healthz /readyz /metrics on port ${o.metricsPort}`,
  );

  // Config: the first valid one starts everything; later ones are applied live.
  let current: AgentConfig | undefined;
  let firstConfig: (c: AgentConfig) => void = () => {};
  const haveConfig = new Promise<AgentConfig>((resolve) => (firstConfig = resolve));
  const apply = (c: AgentConfig) =>
    serial(() => withToa((t) => t.setConfig({ trust: trustOf(c), formats: c.formats })));
  const describe = (c: AgentConfig) =>
    `trust ${c.trust === 'any' ? 'any source' : c.trust.join(',')}, formats ${c.formats.join(',')}`;
  const onConfig = (e: ConfigEvent) => {
    if (!e.ok) {
      metrics.configRejected();
      if (current) log(`config: refused, the previous stays (${describe(current)}): ${e.reason}`);
      else
        setReason(
          `no valid config, toa.ko not loaded (a module without a trust list trusts every source): ${e.reason}`,
        );
      return;
    }
    if (!current || !installed) {
      current = e.config;
      firstConfig(e.config);
      return;
    }
    const c = e.config;
    apply(c).then(
      () => {
        current = c;
        metrics.configApplied();
        log(`config: applied ${describe(c)}`);
        verifyUntilOk().catch((err: Error) => setReason(`agent error: ${err.message}`));
      },
      (err: Error) => {
        metrics.configRejected();
        log(`config: the kernel refused it, the previous stays: ${err.message}`);
      },
    );
  };
  const first = readConfig(o.config);
  let watcher: Watcher | undefined = watchConfig(o.config, first.ok ? first.text : undefined, onConfig);
  onConfig(first);

  let readyNow: () => void = () => {};
  const ready = new Promise<void>((resolve) => (readyNow = resolve));
  let verifying: Promise<unknown> = Promise.resolve();

  const selfTest = (c: AgentConfig) =>
    serial(async () => {
      const trust = trustOf(c);
      const add = trust.length > 0 && !trust.some((cidr) => cidrContains(cidr, VERIFY_LB));
      const testTrust = add ? [...trust, `${VERIFY_LB}/32`] : trust;
      if (add) await withToa((t) => t.setConfig({ trust: testTrust }));
      try {
        return await verify({
          lb: VERIFY_LB,
          netns: false,
          signals: false,
          config: { read: () => ({ trust: testTrust, formats: c.formats }), apply: () => {} },
          onStep: (s: Step) => log(`verify: ${s.ok ? 'ok' : 'FAIL'} ${s.step}: ${s.detail}`),
        });
      } finally {
        // The trust list is node-wide: the test's entry goes whatever happened.
        if (add) await withToa((t) => t.setConfig({ trust: trustOf(current ?? c) }));
      }
    });

  // The self-test until it passes, retried every verifyRetryMs; run again when the config changed
  // while it ran. A ready agent stays ready while it re-tests, and not ready if that fails.
  let verifyLoop: Promise<void> | undefined;
  let everReady = false;
  let rerun = false;
  const verifyUntilOk = (): Promise<void> => {
    if (verifyLoop) {
      rerun = true;
      return verifyLoop;
    }
    const loop = async () => {
      do {
        rerun = false;
        for (;;) {
          if (stopping) return;
          if (reason !== null) setReason('self-test running', false);
          const run = selfTest(current as AgentConfig);
          verifying = run;
          const r = await run;
          metrics.setVerify(r.ok, new Date());
          if (r.ok) {
            setReason(null);
            log(
              everReady
                ? 'ready: verified again after the config change'
                : 'ready: toa.ko loaded, configured and verified',
            );
            everReady = true;
            readyNow();
            break;
          }
          const failed = r.steps.find((s) => !s.ok);
          setReason(`self-test failed: ${failed?.step}: ${failed?.detail}`);
          await new Promise((r) => setTimeout(r, o.verifyRetryMs ?? 10000));
        }
      } while (rerun);
    };
    verifyLoop = loop().finally(() => {
      verifyLoop = undefined;
    });
    return verifyLoop;
  };

  const main = async () => {
    const config = await haveConfig;
    if (stopping) return;
    log(`config: ${describe(config)}`);
    setReason('choosing a module', false);
    const obtained = obtainModule({
      kernel,
      prebuiltDir: o.prebuiltDir,
      build: o.hostUsrLib !== null,
      libModules: o.libModules,
      hostUsrLib: o.hostUsrLib ?? '',
      stateDir: o.stateDir,
      ...(o.kmodSrc !== undefined && { kmodSrc: o.kmodSrc }),
      log,
      signal: stopBuild.signal,
    });
    obtaining = obtained;
    const got = await obtained;
    if (stopping) return;
    metrics.setSource(got.source);
    if (got.source === 'failed') return setReason(`no usable toa.ko: ${got.reason}`);
    setReason('loading toa.ko', false);
    try {
      const c = current ?? config;
      await serial(() => installModule(got.module, { trust: trustOf(c), formats: c.formats }, log));
      await apply(current ?? config);
      installed = true;
      metrics.configApplied();
      log(`config: applied ${describe(current ?? config)}`);
    } catch (e) {
      return setReason(`loading or configuring toa.ko failed: ${(e as Error).message}`);
    }
    await verifyUntilOk();
  };
  main().catch((e: Error) => setReason(`agent error: ${e.message}`));

  return {
    server,
    ready,
    notReady,
    async stop(why) {
      stopping = true;
      log(`stopping (${why})`);
      stopBuild.abort();
      watcher?.close();
      watcher = undefined;
      await obtaining;
      await verifying.catch(() => {});
      await chain;
      if (o.unloadOnExit && loadedModule()) {
        try {
          const r = await unloadModule();
          log(
            `module: unloaded toa.ko ${r.version ?? ''} (--unload-on-exit); ${r.socketsTracked ?? '?'} socket(s) carried TOA state`,
          );
        } catch (e) {
          log(`module: unload failed: ${(e as Error).message}`);
        }
      } else if (loadedModule()) log('module: toa.ko stays loaded (connections keep their client)');
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}
