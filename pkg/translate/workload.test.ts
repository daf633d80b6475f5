import * as path from 'node:path';
import t from 'tap';
import type { PodObj } from '../model';
import { appProtocol, generateLocal, msgEqual, podWorkloadName, stringMatch } from './index';
import { loadFixture, TESTDATA } from './testing/util';
import { sortKeys } from './workload';

const pod = (p: Partial<PodObj>): PodObj => ({
  kind: 'Pod',
  name: 'p-abc',
  namespace: 'ns',
  labels: {},
  annotations: {},
  ips: [],
  serviceAccount: 'default',
  hostNetwork: false,
  phase: 'Running',
  ready: true,
  deleting: false,
  namedPorts: [],
  ...p,
});

t.test('workload name heuristics (istiod GetWorkloadMetaFromPod)', async (t) => {
  const gen = { generateName: 'x-' };
  t.equal(podWorkloadName(pod({})), 'p-abc', 'no owner → pod name');
  t.equal(podWorkloadName(pod({ owner: { kind: 'StatefulSet', name: 'db' } })), 'p-abc', 'not generated → pod name');
  t.equal(podWorkloadName(pod({ ...gen, owner: { kind: 'StatefulSet', name: 'db' } })), 'db');
  t.equal(
    podWorkloadName(
      pod({ ...gen, owner: { kind: 'ReplicaSet', name: 'web-5d8f' }, labels: { 'pod-template-hash': '5d8f' } }),
    ),
    'web',
  );
  t.equal(
    podWorkloadName(pod({ ...gen, owner: { kind: 'ReplicaSet', name: 'web-5d8f' } })),
    'web-5d8f',
    'bare ReplicaSet',
  );
  t.equal(
    podWorkloadName(
      pod({ ...gen, owner: { kind: 'ReplicaSet', name: 'ro-77c' }, labels: { 'rollouts-pod-template-hash': '77c' } }),
    ),
    'ro',
  );
  t.equal(
    podWorkloadName(
      pod({ ...gen, owner: { kind: 'ReplicationController', name: 'dc-1' }, labels: { deploymentconfig: 'dc' } }),
    ),
    'dc',
  );
  t.equal(
    podWorkloadName(pod({ ...gen, owner: { kind: 'Job', name: 'report-28901234' } })),
    'report',
    'CronJob from timestamp suffix',
  );
  t.equal(podWorkloadName(pod({ ...gen, owner: { kind: 'Job', name: 'migrate-1' } })), 'migrate-1', 'plain Job');
  t.equal(
    podWorkloadName(
      pod({ ...gen, owner: { kind: 'Job', name: 'j-1' }, labels: { 'service.istio.io/workload-name': 'w' } }),
    ),
    'w',
    'label override',
  );
});

t.test('app protocol from appProtocol or port-name prefix', async (t) => {
  t.equal(appProtocol(undefined, 'http-web'), 1);
  t.equal(appProtocol(undefined, 'http2'), 2);
  t.equal(appProtocol(undefined, 'grpc-api'), 3);
  t.equal(appProtocol('HTTP', 'tcp'), 1, 'appProtocol wins, case-insensitive');
  t.equal(appProtocol('kubernetes.io/h2c', undefined), 2);
  t.equal(
    appProtocol(undefined, 'tcp-db'),
    0,
    'TCP is left UNKNOWN (only HTTP/HTTP2/GRPC are mapped, the values istiod uses)',
  );
  t.equal(appProtocol(undefined, undefined), 0);
});

t.test('string match forms', async (t) => {
  t.same(stringMatch('*'), { presence: {} });
  t.same(stringMatch('*.example'), { suffix: '.example' });
  t.same(stringMatch('team-*'), { prefix: 'team-' });
  t.same(stringMatch('exact'), { exact: 'exact' });
});

t.test('a pod workload is a plain object, fields in proto order', async (t) => {
  const { registry, mesh } = loadFixture(path.join(TESTDATA, 'pod-basic.yaml'));
  const out = generateLocal({ snapshot: registry.snapshot(), mesh }).output;
  let pods = 0;
  for (const a of out.addresses.values()) {
    if (!('workload' in a) || !a.workload.uid.includes('//Pod/')) continue;
    pods++;
    t.equal(Object.getPrototypeOf(a.workload), Object.prototype, `${a.workload.uid}: prototype`);
    t.same(Object.keys(a.workload), Object.keys(sortKeys(a.workload)), `${a.workload.uid}: key order`);
  }
  t.ok(pods > 0, `pods checked (${pods})`);
});

t.test("a pod's addresses are the registry's bytes; a copy without them translates the same", async (t) => {
  const { registry, mesh } = loadFixture(path.join(TESTDATA, 'pod-basic.yaml'));
  const snapshot = registry.snapshot();
  const out = generateLocal({ snapshot, mesh }).output;
  let shared = 0;
  snapshot.pods.forEach((p) => {
    const a = out.addresses.get(`${mesh.clusterId}//Pod/${p.namespace}/${p.name}`);
    if (!a || !('workload' in a) || !p.ipBytes) return;
    t.equal(a.workload.addresses, p.ipBytes, `${p.name}: the registry's array, not a copy`);
    shared++;
  });
  t.ok(shared > 0, `pods with registry bytes (${shared})`);
  // A spread copy has no ipBytes (not enumerable): translated from `ips`, to equal messages.
  const copies = new Map<string, PodObj>();
  snapshot.pods.forEach((p, k) => copies.set(k, { ...p }));
  t.notOk(
    [...copies.values()].some((p) => p.ipBytes),
    'copies lack ipBytes',
  );
  const again = generateLocal({ snapshot: { ...snapshot, pods: copies }, mesh }).output;
  t.equal(again.addresses.size, out.addresses.size);
  for (const [k, a] of out.addresses) t.ok(msgEqual(again.addresses.get(k), a), k);
});
