/**
 * The shared set-up of the e2e/kube/daemon*.test.ts files: a real kube-apiserver + etcd with the
 * deploy/kubernetes identity and RBAC applied, and the whole daemon in `registry.type: kubernetes` mode
 * running as the istiod ServiceAccount; plus ztunnel-faithful clients on it. Each test file calls
 * useKubeDaemon() once at its top level.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t from 'tap';
import { Registry } from 'prom-client';
import { stringify as toYaml } from 'yaml';
import { loadConfig } from '../../pkg/config';
import { buildDaemon, type Daemon } from '../../pkg/daemon';
import type { KubeApi } from '../../pkg/kube';
import { createSilentLogger } from '../../pkg/log';
import { createPeering, PEERING_PROTO } from '../../pkg/peering';
import { loadWire, TYPE_ADDRESS } from '../../pkg/wire';
import { ZtunnelClient } from '../harness/ztunnel-client';
import { findBinaries, ISSUER, REPO_ROOT, TestCluster } from './harness';
import * as k from './objects';

const bins = findBinaries();
export const skip = typeof bins === 'string' ? bins : false;
export const WAIT = { timeoutMs: 45_000, intervalMs: 20 };

export type Obj = Record<string, unknown>;

// Set by t.before (definite assignment: every test is skipped when it did not run).
export let cluster!: TestCluster;
export let admin!: KubeApi;
export let daemon!: Daemon;
export let dir!: string;
const clients: ZtunnelClient[] = [];

/** Starts the cluster and the daemon before the file's tests and stops them after (registered on tap's root). */
export function useKubeDaemon(): void {
  // Starting etcd + kube-apiserver on a shared 2-core machine can take a while: raise tap's 30 s file timeout.
  if (!skip) t.setTimeout(300_000);

  t.before(async () => {
    if (typeof bins === 'string') return;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ambientd-kube-daemon-'));
    cluster = await TestCluster.start(bins);
    admin = cluster.adminClient();

    // The manifests' identity and RBAC, the CRDs the daemon watches, and ztunnel's ServiceAccount
    // (no controller-manager here, so nothing creates service accounts for us).
    for (const f of ['00-namespace.yaml', '10-rbac.yaml'])
      await k.applyFile(admin, path.join(REPO_ROOT, 'deploy/kubernetes', f));
    await k.applyFile(admin, path.join(REPO_ROOT, 'e2e/kube/fixtures/crds.yaml'));
    await k.waitCrdsEstablished(admin, [
      'gateways.gateway.networking.k8s.io',
      'authorizationpolicies.security.istio.io',
      'peerauthentications.security.istio.io',
    ]);
    await k.apply(admin, {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: 'ztunnel', namespace: 'istio-system' },
    });
    await k.apply(admin, k.ns('apps', { 'istio.io/dataplane-mode': 'ambient' }));
    await k.apply(admin, k.ns('istio-gateways'));

    // A kubeconfig as an operator would write it for the istiod ServiceAccount (CA by file, bearer token).
    const token = await k.requestToken(admin, 'istio-system', 'istiod', { audiences: [ISSUER] });
    const kubeconfig = path.join(dir, 'kubeconfig');
    fs.writeFileSync(
      kubeconfig,
      toYaml({
        apiVersion: 'v1',
        kind: 'Config',
        'current-context': 'e2e',
        clusters: [{ name: 'e2e', cluster: { server: cluster.url, 'certificate-authority': cluster.file('ca.crt') } }],
        users: [{ name: 'istiod', user: { token } }],
        contexts: [{ name: 'e2e', context: { cluster: 'e2e', user: 'istiod' } }],
      }),
    );
    const cfg = loadConfig({
      flags: {
        'registry-type': 'kubernetes',
        'registry-kubeconfig': kubeconfig,
        'xds-listen': '127.0.0.1:0',
        'admin-metrics-listen': '127.0.0.1:0',
        'admin-debug-listen': '127.0.0.1:0',
        'state-dir': path.join(dir, 'state'),
        'cluster-id': 'c1',
        network: 'net1',
        'ca-root-key-type': 'ec',
      },
    });
    daemon = await buildDaemon(cfg, {
      logger: createSilentLogger(),
      metrics: new Registry(),
      wire: loadWire({ extraFiles: [PEERING_PROTO] }),
      peering: createPeering,
    });
    await daemon.start();
  });

  // One teardown, in reverse order of start-up (and safe after a partial setup).
  t.teardown(async () => {
    for (const c of clients) c.close();
    await daemon?.close();
    await cluster?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });
}

export function ztunnel(token: string): ZtunnelClient {
  const c = new ZtunnelClient({
    wire: daemon.wire,
    address: `127.0.0.1:${daemon.grpcPort}`,
    rootCaPem: daemon.authority.rootBundlePem(),
    serverName: 'istiod.istio-system.svc',
    token,
    clusterId: 'c1',
  });
  clients.push(c);
  return c;
}

/** ztunnel's own projected token: istio-system/ztunnel, audience istio-ca, signed by the API server. */
export const ztunnelToken = () => k.requestToken(admin, 'istio-system', 'ztunnel', { audiences: ['istio-ca'] });

/** Same header and payload, one signature character changed (still valid base64url). */
export function tamper(jwt: string): string {
  const [h, p, s] = jwt.split('.') as [string, string, string];
  const i = Math.floor(s.length / 2);
  return `${h}.${p}.${s.slice(0, i)}${s[i] === 'A' ? 'B' : 'A'}${s.slice(i + 1)}`;
}

export const workload = (z: ZtunnelClient, key: string) =>
  z.held(TYPE_ADDRESS).get(key)?.value.workload as Obj | undefined;
export const ipOf = (w: Obj | undefined) => [...((w?.addresses as Buffer[] | undefined)?.[0] ?? [])].join('.');
