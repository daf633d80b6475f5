import * as path from 'node:path';
import { waitFor } from '../../pkg/lifecycle';
import type { RigCluster } from './harness';
import { spawnInNetns, type NetnsProc } from './netns-proc';
import { REPO_ROOT } from './ztunnel';

const MAIN_JS = path.join(REPO_ROOT, 'dist', 'cmd', 'ambientd', 'main.js');

/**
 * The east-west gateway (`ambientd eastwest`, docs/eastwest.md) as its own process in an exporter's
 * control-plane namespace, which holds the edge addresses peers dial. Its identity is what peers expect of it:
 * `<namespace of their istio-remote Gateway>/<its service-account annotation>` = istio-gateways/istio-eastwest
 * (mesh-yaml.ts remoteGateway), with a token for that account from the local daemon's issuer.
 */
export interface GatewayProc {
  readonly cluster: RigCluster;
  proc: NetnsProc;
  /** GET on the gateway's admin (15020) or debug (15000) port. */
  get(port: number, urlPath: string): Promise<{ status: number; body: string }>;
  metrics(): Promise<string>;
  /**
   * Waits until the gateway's own route table (/debug/routes) has n healthy endpoints for a global hostname.
   * A peer's ztunnel can learn of an endpoint before this cluster's gateway does (both hear it from the same
   * daemon, on different streams), so a test that needs the path to work waits for both views.
   */
  untilRoute(hostname: string, n: number, timeoutMs?: number): Promise<void>;
  /** SIGTERM: drain (no new tunnels; open ones finish until the drain deadline); resolves at exit. */
  stop(graceMs?: number): Promise<number | string>;
  /** Starts a fresh gateway process with the same settings and waits until it is ready. */
  restart(): Promise<void>;
}

export const GATEWAY_IDENTITY = { namespace: 'istio-gateways', sa: 'istio-eastwest' };

/** The port of a host:port flag value. */
const portOf = (hostPort: string): number => Number(hostPort.slice(hostPort.lastIndexOf(':') + 1));

/**
 * Starts a gateway in c's control-plane namespace. Several gateways of one cluster need their own `name` (log
 * file) and their own listen, admin-listen and admin-debug-listen flags; get() follows the admin flags. nodeArgs go
 * to node before the script (diagnosis, e.g. --cpu-prof).
 */
export async function startGateway(
  c: RigCluster,
  o: { flags?: Record<string, string>; name?: string; nodeArgs?: string[] } = {},
): Promise<GatewayProc> {
  const flags: Record<string, string> = {
    'cluster-id': c.name,
    network: c.network,
    identity: `${GATEWAY_IDENTITY.namespace}/${GATEWAY_IDENTITY.sa}`,
    listen: '0.0.0.0:15008',
    'xds-address': '127.0.0.1:15012',
    'xds-root-ca': c.rootCertFile,
    'xds-auth-token': c.tokenFile(GATEWAY_IDENTITY.namespace, GATEWAY_IDENTITY.sa),
    'admin-listen': '127.0.0.1:15020',
    'admin-debug-listen': '127.0.0.1:15000',
    'drain-deadline': '10s',
    'log-level': 'info',
    ...o.flags,
  };
  const args = [...(o.nodeArgs ?? []), MAIN_JS, 'eastwest', ...Object.entries(flags).map(([k, v]) => `--${k}=${v}`)];
  const name = o.name ?? `eastwest-${c.name}`;
  const spawn = (): NetnsProc => spawnInNetns({ ns: c.cpNs, name, cmd: process.execPath, args, logDir: c.env.logDir });
  const adminPort = portOf(flags['admin-listen']!);
  const debugPort = portOf(flags['admin-debug-listen']!);
  const get = (port: number, urlPath: string): Promise<{ status: number; body: string }> =>
    c.cpAgent.get('127.0.0.1', port, urlPath);
  const g: GatewayProc = {
    cluster: c,
    proc: spawn(),
    get,
    metrics: async () => (await get(adminPort, '/metrics')).body,
    async untilRoute(hostname, n, timeoutMs = 30_000) {
      await waitFor(
        async () => {
          const routes = JSON.parse((await get(debugPort, '/debug/routes')).body) as {
            hostname: string;
            endpoints: { healthy: boolean }[];
          }[];
          const r = routes.find((x) => x.hostname === hostname);
          return (r?.endpoints.filter((e) => e.healthy).length ?? 0) === n;
        },
        { timeoutMs, intervalMs: 25, what: `${n} endpoint(s) of ${hostname} in ${c.name}'s gateway` },
      );
    },
    stop: (graceMs = 20_000) => g.proc.stop(graceMs),
    async restart() {
      await g.proc.stop(20_000);
      g.proc = spawn();
      await ready(g, adminPort);
    },
  };
  await ready(g, adminPort);
  return g;
}

/** Ready = a certificate held and the first xDS state in (the gateway's /healthz/ready). */
async function ready(g: GatewayProc, adminPort: number): Promise<void> {
  await waitFor(
    async () => {
      if (g.proc.exitedAlready()) throw new Error(`east-west gateway exited:\n${g.proc.logTail(30)}`);
      return (await g.get(adminPort, '/healthz/ready')).status === 200;
    },
    { timeoutMs: 60_000, intervalMs: 50, what: `east-west gateway of ${g.cluster.name} ready` },
  ).catch((e: unknown) => {
    throw new Error(`${(e as Error).message}\n${g.proc.logTail(30)}`);
  });
}
