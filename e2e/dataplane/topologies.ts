import type { Rig, RigCluster, RigPod } from './harness';
import * as y from './mesh-yaml';
import { serviceByHost, vipOf } from './ztunnel';

/** The shop namespace, enrolled in ambient mode, in every cluster. */
export const SHOP_NS = y.namespace('shop', { 'istio.io/dataplane-mode': 'ambient' });
export const WEB_GLOBAL_HOST = 'web.shop.mesh.internal';

/** A global `web` Service (port 80 → 8080; 8081 for the HTTP demo app) in a cluster's registry. */
export function exportWeb(c: RigCluster, extra: string[] = []): string {
  const vip = c.nextVip();
  c.write(
    '10-shop.yaml',
    y.join([
      SHOP_NS,
      y.service({
        name: 'web',
        namespace: 'shop',
        clusterIP: vip,
        labels: { 'solo.io/service-scope': 'global' },
        ports: [
          { name: 'tcp-echo', port: 80, targetPort: 8080 },
          { name: 'http', port: 8081, targetPort: 8081 },
        ],
      }),
      ...extra,
    ]),
  );
  return vip;
}

/** A `web` pod: the echo app on 8080 and the HTTP app on 8081. */
export async function addWebPod(c: RigCluster, name: string, o: { register?: boolean } = {}): Promise<RigPod> {
  const p = await c.addPod({ name, namespace: 'shop', labels: { app: 'web' }, serve: [8080], register: o.register });
  await p.agent.serve(8081, `${name} (${c.name})`, { http: true });
  return p;
}

/** Waits until a pod's ztunnel holds the service with n endpoints; returns the VIP in the pod's network. */
export async function untilEndpoints(pod: RigPod, host: string, n: number, timeoutMs = 30_000): Promise<string> {
  const d = await pod.ztunnel!.until(
    `${host} with ${n} endpoint(s)`,
    (d) => {
      const s = serviceByHost(d, host);
      return s && Object.keys(s.endpoints ?? {}).length === n ? d : undefined;
    },
    timeoutMs,
  );
  const vip = vipOf(serviceByHost(d, host), pod.cluster.network);
  if (!vip) throw new Error(`${host} has no VIP in ${pod.cluster.network}`);
  return vip;
}

export interface Pair {
  a: RigCluster;
  b: RigCluster;
  client: RigPod;
  web: RigPod[];
}

/** Two clusters on one flat network: A imports B's global `web` (two pods) and runs a client pod. */
export async function flatPair(rig: Rig): Promise<Pair> {
  const a = await rig.cluster({ name: 'cluster-a', network: 'flat-net' });
  const b = await rig.cluster({ name: 'cluster-b', network: 'flat-net' });
  exportWeb(b);
  a.write('10-shop.yaml', SHOP_NS);
  a.write('50-peer-b.yaml', y.remoteGateway({ cluster: 'cluster-b', network: 'flat-net', address: b.cpIp }));
  const web = [await addWebPod(b, 'web-b-0'), await addWebPod(b, 'web-b-1')];
  const client = await a.addPod({ name: 'client', namespace: 'shop', labels: { app: 'client' } });
  return { a, b, client, web };
}
