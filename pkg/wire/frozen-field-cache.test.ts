import t from 'tap';
import { CODECS, encodeMessage, loadWire } from './index';

// The Workload writer's FrozenFieldCache fields (services, authorization_policies) against protobufjs's reflective
// encoder on the same objects: a deep-frozen value written once is copied afterwards, anything else is written each
// time (pb-generated.test.ts covers the writers themselves against protobufjs and protoc).
const wire = loadWire();
const address = CODECS['istio.workload.Address'];
/** Workload w's Address bytes: ours, and protobufjs's. */
const ours = (w: object): Buffer => encodeMessage(address, { workload: w });
const reference = (w: object): Buffer => Buffer.from(wire.Address.encode({ workload: w }).finish());

function deepFreeze<T extends object>(o: T): T {
  for (const v of Object.values(o)) if (typeof v === 'object' && v !== null) deepFreeze(v as object);
  return Object.freeze(o);
}

t.test('a deep-frozen services map and policy list are written once, then copied as bytes', async (t) => {
  let reads = 0;
  const ports = deepFreeze({ ports: [{ servicePort: 80, targetPort: 8080 }, { servicePort: 443 }] });
  const services: Record<string, object> = { 'apps/a.apps.svc.cluster.local': deepFreeze({ ports: [] }) };
  // A counting getter: the writer reads the value only when it writes the map field by field.
  Object.defineProperty(services, 'apps/b.apps.svc.cluster.local', {
    enumerable: true,
    get: () => (reads++, ports),
  });
  Object.freeze(services);
  const policies = Object.freeze(['apps/allow-a', 'istio-system/root-deny']);
  const pods = ['p1', 'p2', 'p3'].map((n) => ({ uid: `Kubernetes//Pod/apps/${n}`, name: n, services, policies }));
  const msgs = pods.map(({ policies: authorizationPolicies, ...p }) => ({ ...p, authorizationPolicies }));
  const got = [ours(msgs[0]!)];
  const readsAfterFirst = reads;
  t.ok(readsAfterFirst > 0, 'the first encoding reads the map');
  for (const m of msgs) got.push(ours(m));
  t.equal(reads, readsAfterFirst, 'later encodings copy the map: they never read it again');
  // protobufjs reads the getter too, so the reference bytes are made last.
  t.ok(got[0]!.equals(reference(msgs[0]!)), "the first encoding: protobufjs's bytes");
  msgs.forEach((m, i) => t.ok(got[i + 1]!.equals(reference(m)), `${m.name}, copied: protobufjs's bytes`));
});

t.test('values that are not deep-frozen are written each time', async (t) => {
  const portList = { ports: [{ servicePort: 80 }] }; // not frozen, inside a frozen map
  const services = Object.freeze({ 'apps/a.apps.svc.cluster.local': portList });
  const m = { uid: 'Kubernetes//Pod/apps/p', services };
  t.ok(ours(m).equals(reference(m)));
  portList.ports[0]!.servicePort = 9090;
  t.ok(ours(m).equals(reference(m)), 'a frozen map holding a mutable value: written anew');
  const open: Record<string, object> = { 'apps/a.apps.svc.cluster.local': deepFreeze({ ports: [] }) };
  const policies = ['apps/one'];
  const m2 = { uid: 'Kubernetes//Pod/apps/q', services: open, authorizationPolicies: policies };
  t.ok(ours(m2).equals(reference(m2)));
  open['apps/b.apps.svc.cluster.local'] = deepFreeze({ ports: [{ servicePort: 1 }] });
  policies.push('apps/two');
  t.ok(ours(m2).equals(reference(m2)), 'a map and a list that are not frozen: written anew');
});

t.test('the kept bytes are a copy: the buffer they were written in is written over afterwards', async (t) => {
  const services = deepFreeze({ 'apps/a.apps.svc.cluster.local': { ports: [{ servicePort: 80 }] } });
  const m = { uid: 'Kubernetes//Pod/apps/p', services };
  const want = reference(m);
  t.ok(ours(m).equals(want), 'written, and kept');
  // The same scratch buffer, the same offsets, other bytes: a view of it would now hold these.
  const other = { uid: 'Kubernetes//Pod/apps/p', services: { 'zzzz/b.zzzz.svc.cluster.local': { ports: [] } } };
  t.notOk(ours(other).equals(want));
  t.ok(ours(m).equals(want), 'copied from the kept bytes: still its own');
});

t.test('a copy that does not fit writes nothing and reports the shortfall, as a write does', async (t) => {
  const services = deepFreeze({ 'apps/a.apps.svc.cluster.local': { ports: [{ servicePort: 80 }] } });
  const m = { uid: 'Kubernetes//Pod/apps/p', services };
  const want = reference(m);
  t.ok(ours(m).equals(want), 'written, and kept');
  const small = Buffer.alloc(16, 0xee);
  t.ok(address.writeBack({ workload: m }, small, small.length) < 0, 'a negative start: too small');
  t.ok(ours(m).equals(want), 'then the bytes again, from the copy');
});
