import t from 'tap';
import { LocalRegistry } from '../registry';
import { systemClock } from '../lifecycle';
import { createSilentLogger } from '../log';
import { AddressTable, AddressTableWriter } from './address-table';
import { generateLocal } from './generate';
import { serviceResourceName, workloadUidForEndpoint, workloadUidForPod, workloadUidForWorkloadEntry } from './types';
import type { AddressMsg, MeshContext } from './types';

const MESH: MeshContext = {
  clusterId: 'c1',
  network: '',
  trustDomain: 'cluster.local',
  domainSuffix: 'cluster.local',
  rootNamespace: 'istio-system',
};

const wl = (uid: string): AddressMsg => ({ workload: { uid } });

t.test('names are routed by the pod uid prefix; every other kind of name stays a name', async (t) => {
  const pod = workloadUidForPod('c1', 'ns', 'p');
  const others = [
    serviceResourceName('svc', 'ns', 'cluster.local'),
    // A namespace named like the cluster id: "c1/..." has one slash, a pod uid "c1//Pod/..." two.
    serviceResourceName('svc', 'c1', 'cluster.local'),
    workloadUidForWorkloadEntry('c1', 'ns', 'we'),
    workloadUidForEndpoint('c1', 'ns', 'slice', '10.0.0.1'),
    // A pod of another cluster id is not this table's pod.
    workloadUidForPod('c2', 'ns', 'p'),
  ];
  const w = AddressTableWriter.from('c1', undefined);
  w.set(pod, wl(pod));
  for (const n of others) w.set(n, wl(n));
  const table = w.freeze();
  t.ok(table instanceof AddressTable);
  t.equal(table.pods.size, 1, 'only the pod is in the pod table');
  t.equal(table.pods.get('ns/p'), table.get(pod), 'keyed by the registry key "ns/name"');
  t.equal(table.rest.size, others.length);
  t.equal(table.size, 1 + others.length);
  for (const n of [pod, ...others]) {
    t.equal(table.has(n), true, n);
    t.same(table.get(n), wl(n), n);
  }
  t.equal(table.has(workloadUidForPod('c1', 'ns', 'absent')), false);
  // Iteration names each pod by its Workload's uid.
  t.strictSame([...table.keys()].sort(), [pod, ...others].sort());
  const fromForEach: string[] = [];
  table.forEach((a, k) => {
    t.same(a, wl(k));
    fromForEach.push(k);
  });
  t.strictSame(fromForEach, [...table.keys()], 'forEach and keys() in the same order');
  t.strictSame(
    [...table.entries()].map(([k]) => k),
    fromForEach,
  );
  t.equal([...table.values()].length, table.size);
  t.throws(() => w.set(pod, { service: { name: 'x' } }), /a pod's name with a service message/);
  t.equal(w.delete(pod), true);
  t.equal(w.delete(others[0]!), true);
  t.equal(w.delete(pod), false);
  const after = w.freeze();
  t.equal(after.size, others.length - 1);
  t.equal(table.size, 1 + others.length, 'the earlier table is unchanged');
});

t.test('a writer shares a table of the same cluster id and copies any other map', async (t) => {
  const pod = workloadUidForPod('c1', 'ns', 'p');
  const base = AddressTableWriter.from('c1', new Map([[pod, wl(pod)]])).freeze();
  t.equal(base.pods.size, 1, 'a plain map is copied, its pod routed to the pod table');
  const same = AddressTableWriter.from('c1', base);
  same.set(workloadUidForPod('c1', 'ns', 'q'), wl(workloadUidForPod('c1', 'ns', 'q')));
  t.equal(same.freeze().size, 2);
  t.equal(base.size, 1, 'writing the thawed copy leaves the base unchanged');
  // Under another cluster id the same names are not pod uids: they go to the rest.
  const other = AddressTableWriter.from('c2', base).freeze();
  t.equal(other.pods.size, 0);
  t.same(other.get(pod), wl(pod));
});

t.test("a full translation's pods are keyed by the registry's keys, and equal their uids", async (t) => {
  const reg = new LocalRegistry({ logger: createSilentLogger(), clock: systemClock });
  const pods = Array.from({ length: 300 }, (_, i) => ({
    obj: {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: `p-${i}`, namespace: `ns-${i % 3}`, labels: { app: 'a' } },
      spec: { nodeName: 'n1', serviceAccountName: 'sa' },
      status: {
        phase: i % 50 === 7 ? 'Succeeded' : 'Running',
        podIP: `10.0.${i >> 8}.${i & 255}`,
        conditions: [{ type: 'Ready', status: 'True' }],
      },
    },
    origin: 'test',
  }));
  reg.replaceSource('test', pods);
  const out = generateLocal({ snapshot: reg.snapshot(), mesh: MESH }).output.addresses;
  if (!(out instanceof AddressTable)) return t.fail('a full translation outputs an AddressTable');
  const table = out;
  t.equal(table.pods.size, 294, 'pods in a terminal phase have no Address');
  table.pods.forEach((a, key) => {
    const [ns, name] = key.split('/') as [string, string];
    if (a.workload.uid !== workloadUidForPod('c1', ns, name)) t.fail(`${key}: uid ${a.workload.uid}`);
  });
  t.equal(out.get(workloadUidForPod('c1', 'ns-1', 'p-1')), table.pods.get('ns-1/p-1'));
  t.equal(out.has(workloadUidForPod('c1', 'ns-1', 'p-7')), false);
});
