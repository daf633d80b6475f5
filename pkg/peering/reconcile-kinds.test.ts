import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t from 'tap';
import { Registry } from 'prom-client';
import { loadConfig } from '../config';
import { systemClock } from '../lifecycle';
import { createSilentLogger } from '../log';
import { LocalRegistry, parseManifest } from '../registry';
import { loadWire } from '../wire';
import { PEERING_PROTO } from './index';
import { Peering } from './peering';

const POD = `apiVersion: v1
kind: Pod
metadata: { name: web-1, namespace: shop, uid: u1 }
spec: { nodeName: n1, serviceAccountName: web }
status: { podIP: 10.1.0.1, phase: Running }
`;

const GATEWAY = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: istio-remote-peer-cluster-b
  namespace: istio-gateways
  labels: { topology.istio.io/network: net-b, topology.istio.io/cluster: cluster-b }
  annotations: { gateway.istio.io/service-account: istio-eastwest }
spec:
  gatewayClassName: istio-remote
  addresses: [{ type: IPAddress, value: 127.0.0.1 }]
  listeners:
  - { name: cross-network, port: 15008, protocol: HBONE, tls: { mode: Passthrough } }
  - { name: xds-tls, port: 1, protocol: TLS, tls: { mode: Passthrough } }
`;

t.test('peer declarations are re-read on Gateway changes, not on Pod churn', async (t) => {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ambientd-reconcile-'));
  t.teardown(() => fs.rmSync(stateDir, { recursive: true, force: true }));
  const registry = new LocalRegistry({ logger: createSilentLogger(), clock: systemClock });
  let snapshots = 0;
  const peering = new Peering({
    cfg: loadConfig({ flags: { 'state-dir': stateDir, 'cluster-id': 'cluster-a' } }),
    logger: createSilentLogger(),
    clock: systemClock,
    metrics: new Registry(),
    wire: loadWire({ extraFiles: [PEERING_PROTO] }),
    snapshot: () => {
      snapshots++;
      return registry.snapshot();
    },
    onRegistryChange: (cb) => registry.onChange((c) => cb(c.byKind.keys())),
    identity: () => ({ certChainPem: '', keyPem: '', trustBundlePem: '' }),
    requestPush: () => undefined,
  });
  t.teardown(() => peering.close());
  await peering.start();
  const afterStart = snapshots;
  const load = (id: string, yaml: string): void => registry.replaceSource(id, parseManifest(yaml, id).objects);

  load('pods', POD);
  load('pods', POD.replace('10.1.0.1', '10.1.0.2'));
  t.equal(snapshots, afterStart, 'Pod changes do not make peering read the registry');
  t.same(peering.status(), [], 'no peer declared yet');

  load('gateways', GATEWAY);
  t.ok(snapshots > afterStart, 'a Gateway change is read');
  t.same(
    peering.status().map((s) => s.cluster),
    ['cluster-b'],
    'the istio-remote Gateway declares its peer',
  );
});
