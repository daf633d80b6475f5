import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Registry } from 'prom-client';
import { loadConfig } from '../../pkg/config';
import { createSilentLogger, type Logger } from '../../pkg/log';
import { buildDaemon, type Daemon, type DaemonDeps } from '../../pkg/daemon';
import { testWire } from './xds-fixture';
import { ZtunnelClient, type ZtunnelClientOptions } from './ztunnel-client';

/** A real in-process daemon on 127.0.0.1:0 with a temp registry dir and state dir. */
export interface DaemonFixture {
  daemon: Daemon;
  dir: string;
  registryDir: string;
  stateDir: string;
  /** Writes (or replaces) a registry file; the file source picks it up. */
  write(file: string, yaml: string): void;
  remove(file: string): void;
  token(ns?: string, sa?: string, node?: string): string;
  ztunnel(opts?: Partial<ZtunnelClientOptions>): ZtunnelClient;
  close(): Promise<void>;
}

export interface DaemonFixtureOptions {
  flags?: Record<string, string>;
  files?: Record<string, string>;
  logger?: Logger;
  deps?: Partial<DaemonDeps>;
  /** Reuse a state dir (restart tests). */
  stateDir?: string;
  registryDir?: string;
}

export async function startDaemon(o: DaemonFixtureOptions = {}): Promise<DaemonFixture> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ambientd-e2e-'));
  const registryDir = o.registryDir ?? path.join(dir, 'registry');
  const stateDir = o.stateDir ?? path.join(dir, 'state');
  let daemon: Daemon;
  try {
    fs.mkdirSync(registryDir, { recursive: true });
    for (const [f, y] of Object.entries(o.files ?? {})) fs.writeFileSync(path.join(registryDir, f), y);
    daemon = await started(o, registryDir, stateDir);
  } catch (e) {
    // A fixture that did not start (a refused setting, a port in use) leaves no directory behind.
    fs.rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
    throw e;
  }
  return fixture(daemon, dir, registryDir, stateDir);
}

/** Builds and starts the daemon; one that fails to start is destroyed before the error goes on. */
async function started(o: DaemonFixtureOptions, registryDir: string, stateDir: string): Promise<Daemon> {
  const cfg = loadConfig({
    flags: {
      'cluster-id': 'c1',
      'xds-listen': '127.0.0.1:0',
      'admin-metrics-listen': '127.0.0.1:0',
      'admin-debug-listen': '127.0.0.1:0',
      'registry-dir': registryDir,
      'state-dir': stateDir,
      'ca-root-key-type': 'ec',
      ...o.flags,
    },
  });
  const daemon = await buildDaemon(cfg, {
    logger: o.logger ?? createSilentLogger(),
    metrics: new Registry(),
    wire: testWire(),
    ...o.deps,
  });
  try {
    await daemon.start();
  } catch (e) {
    daemon.destroy();
    throw e;
  }
  return daemon;
}

/** What a test holds of a started daemon; close() removes the fixture's own directory. */
function fixture(daemon: Daemon, dir: string, registryDir: string, stateDir: string): DaemonFixture {
  const clients: ZtunnelClient[] = [];
  const token = (ns = 'istio-system', sa = 'ztunnel', node?: string): string =>
    daemon.auth.bootstrap.createBootstrapToken({ namespace: ns, serviceAccount: sa, node, ttlSeconds: 3600 });
  return {
    daemon,
    dir,
    registryDir,
    stateDir,
    write(file, yaml) {
      // Write-then-rename so the watcher never sees a half-written file.
      const tmp = path.join(registryDir, `.${file}.tmp`);
      fs.writeFileSync(tmp, yaml);
      fs.renameSync(tmp, path.join(registryDir, file));
    },
    remove(file) {
      fs.rmSync(path.join(registryDir, file), { force: true });
    },
    token,
    ztunnel(co = {}) {
      const c = new ZtunnelClient({
        wire: daemon.wire,
        address: `127.0.0.1:${daemon.grpcPort}`,
        rootCaPem: daemon.authority.rootBundlePem(),
        serverName: 'istiod.istio-system.svc',
        token: token(),
        clusterId: 'c1',
        ...co,
      });
      clients.push(c);
      return c;
    },
    async close() {
      for (const c of clients) c.close();
      await daemon.close();
      // The fixture's own dir only: a state or registry dir the caller passed lives elsewhere and is the caller's.
      // Retried: a file still being closed by a child process makes one pass fail with ENOTEMPTY or EBUSY.
      fs.rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
    },
  };
}
