import * as fs from 'node:fs';
import * as path from 'node:path';
import { waitFor } from '../../pkg/lifecycle';
import { findZtunnel as findHarnessZtunnel } from '../harness/ztunnel-bin';
import type { Agent } from './agent-client';
import { spawnInNetns, type NetnsProc } from './netns-proc';
import type { LooseJson } from '../harness/loose-json';

/** dist/e2e/dataplane → repository root. */
export const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');

/** The unmodified ztunnel (e2e/harness/ztunnel-bin.ts), or the reason the rig cannot have one. */
export function findZtunnel(): { bin: string } | { skip: string } {
  const z = findHarnessZtunnel();
  return typeof z === 'string' ? { skip: z } : { bin: z.path };
}

/** What a dedicated-mode ztunnel needs to find its control plane (docs/design/hbone.md, Test rig). */
export interface ControlPlaneRef {
  ip: string;
  clusterId: string;
  rootCertFile: string;
}

export interface ConfigDump {
  workloads: LooseJson[];
  services: LooseJson[];
  policies: LooseJson[];
  certificates?: LooseJson[];
}

/** One unmodified ztunnel in a pod's namespace, in dedicated mode for that pod's workload. */
export class Ztunnel {
  proc: NetnsProc;
  private readonly env: Record<string, string>;

  private constructor(
    private readonly o: ZtunnelOptions,
    proc: NetnsProc,
    env: Record<string, string>,
  ) {
    this.proc = proc;
    this.env = env;
  }

  static async start(o: ZtunnelOptions): Promise<Ztunnel> {
    const dir = path.join(o.workDir, `ztunnel-${o.label}`);
    fs.mkdirSync(dir, { recursive: true });
    const env: Record<string, string> = {
      PROXY_MODE: 'dedicated',
      PROXY_WORKLOAD_INFO: `${o.namespace}/${o.podName}/${o.serviceAccount}`,
      XDS_ADDRESS: `https://${o.cp.ip}:15012`,
      CA_ADDRESS: `https://${o.cp.ip}:15012`,
      XDS_ROOT_CA: o.cp.rootCertFile,
      CA_ROOT_CA: o.cp.rootCertFile,
      // The daemon's serving certificate names istiod's DNS names (and no rig IP: it listens on 0.0.0.0).
      ALT_XDS_HOSTNAME: 'istiod.istio-system.svc',
      ALT_CA_HOSTNAME: 'istiod.istio-system.svc',
      AUTH_TOKEN: o.tokenFile,
      CLUSTER_ID: o.cp.clusterId,
      NETWORK: o.network,
      // Without TPROXY routing, spoofing the peer's source would send replies out of the namespace.
      ENABLE_ORIG_SRC: 'false',
      UNSTABLE_ENABLE_SOCKS5: 'true',
      ISTIO_META_DNS_CAPTURE: 'false',
      ZTUNNEL_WORKER_THREADS: '1',
      RUST_LOG: 'info',
      // Relative defaults (./var/run/secrets/..., ./etc/istio/config/mesh) resolve under this ztunnel's own dir.
      HOME: dir,
      ...o.extraEnv,
    };
    const z = new Ztunnel(o, Ztunnel.spawn(o, env, dir), env);
    await z.waitReady();
    return z;
  }

  private static spawn(o: ZtunnelOptions, env: Record<string, string>, dir: string): NetnsProc {
    return spawnInNetns({
      ns: o.ns,
      name: `ztunnel-${o.label}`,
      cmd: o.bin,
      args: ['proxy', 'ztunnel'],
      env,
      cwd: dir,
      logDir: o.logDir,
    });
  }

  /** Readiness (15021) answers 200: first xDS responses in and listeners up. */
  async waitReady(timeoutMs = 30_000): Promise<void> {
    await waitFor(
      async () => {
        if (this.proc.exitedAlready()) throw new Error(`ztunnel ${this.o.label} exited: ${this.proc.logTail(20)}`);
        const r = await this.o.agent.get('127.0.0.1', 15021, '/healthz/ready');
        return r.status === 200;
      },
      { timeoutMs, intervalMs: 20, what: `ztunnel ${this.o.label} ready` },
    ).catch((e: unknown) => {
      throw new Error(`${(e as Error).message}\n${this.proc.logTail(30)}`);
    });
  }

  async configDump(): Promise<ConfigDump> {
    const r = await this.o.agent.get('127.0.0.1', 15000, '/config_dump');
    if (r.status !== 200) throw new Error(`config_dump: HTTP ${r.status}`);
    return JSON.parse(r.body) as ConfigDump;
  }

  /** Waits until the config_dump satisfies cond; returns cond's value. */
  async until<T>(what: string, cond: (d: ConfigDump) => T | undefined | false, timeoutMs = 20_000): Promise<T> {
    let last: ConfigDump | undefined;
    try {
      return await waitFor(
        async (): Promise<T> => {
          last = await this.configDump();
          return cond(last) as T;
        },
        { timeoutMs, intervalMs: 25, what: `${what} in ztunnel ${this.o.label}'s config_dump` },
      );
    } catch (e) {
      const summary = last
        ? ` (holds workloads ${last.workloads.map((w) => w.uid).join(', ')}; ` +
          `services ${last.services.map((s) => s.hostname).join(', ')})`
        : '';
      throw new Error(`${(e as Error).message}${summary}`);
    }
  }

  async metrics(): Promise<string> {
    return (await this.o.agent.get('127.0.0.1', 15020, '/metrics')).body;
  }

  async stop(): Promise<void> {
    await this.proc.stop(3000);
  }

  /** Stops and starts the same ztunnel again (same identity and environment). */
  async restart(): Promise<void> {
    await this.stop();
    this.proc = Ztunnel.spawn(this.o, this.env, path.join(this.o.workDir, `ztunnel-${this.o.label}`));
    await this.waitReady();
  }
}

export interface ZtunnelOptions {
  bin: string;
  ns: string;
  label: string;
  agent: Agent;
  cp: ControlPlaneRef;
  namespace: string;
  podName: string;
  serviceAccount: string;
  network: string;
  tokenFile: string;
  workDir: string;
  logDir: string;
  extraEnv?: Record<string, string>;
}

/** The service a ztunnel holds under a hostname (its /config_dump `services` entry). */
export function serviceByHost(d: ConfigDump, hostname: string): LooseJson | undefined {
  return d.services.find((s) => s.hostname === hostname);
}

/**
 * Whether a ztunnel's dump holds what it needs to enforce the AuthorizationPolicy `ns/name` on `workload`: the
 * workload lists it (Address) and the policy itself is there (Authorization). The two arrive on different types, and
 * ztunnel skips a listed policy it does not hold (src/state.rs, assert_rbac), so a test waits for both.
 */
export function enforces(d: ConfigDump, workload: string, ns: string, name: string): boolean {
  const listed = (d.workloads.find((w) => w.name === workload)?.authorizationPolicies as string[] | undefined) ?? [];
  return listed.includes(`${ns}/${name}`) && d.policies.some((p) => p.namespace === ns && p.name === name);
}

/** A service's VIP in a network ("network/ip" entries). */
export function vipOf(svc: LooseJson | undefined, network: string): string | undefined {
  const v = (svc?.vips as string[] | undefined)?.find((x) => x.startsWith(`${network}/`));
  return v?.slice(network.length + 1);
}

/** Whether a ztunnel's metrics count a connection it accepted as destination from this SPIFFE id. */
export function acceptedFrom(metrics: string, spiffeId: string): boolean {
  return metrics
    .split('\n')
    .some(
      (l) =>
        l.startsWith('istio_tcp_connections_opened_total{') &&
        l.includes('reporter="destination"') &&
        l.includes(`source_principal="${spiffeId}"`),
    );
}
