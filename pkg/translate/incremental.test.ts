import t from 'tap';
import type { Test } from 'tap';
import { systemClock } from '../lifecycle';
import { createSilentLogger } from '../log';
import { LocalRegistry } from '../registry';
import type { ChangeSet } from '../registry';
import type { Kind } from '../model';
import { generateLocal, msgEqual } from './index';
import type { LocalDelta, MeshContext } from './index';
import { RandomWorld } from './testing/random';
import { rng } from './testing/util';

const mesh: MeshContext = {
  clusterId: 'c1',
  network: 'net-main',
  trustDomain: 'cluster.local',
  domainSuffix: 'cluster.local',
  rootNamespace: 'istio-system',
};

function sameMap<V>(t: Test, a: ReadonlyMap<string, V>, b: ReadonlyMap<string, V>, what: string): boolean {
  const ka = [...a.keys()].sort();
  const kb = [...b.keys()].sort();
  if (JSON.stringify(ka) !== JSON.stringify(kb)) {
    t.same(ka, kb, `${what}: same resource names`);
    return false;
  }
  for (const k of ka) {
    if (!msgEqual(a.get(k), b.get(k))) {
      t.same(a.get(k), b.get(k), `${what}: ${k}`);
      return false;
    }
  }
  return true;
}

const sorted = (s: ReadonlySet<string>): string[] => [...s].sort();

for (const seed of [1, 42, 20261126]) {
  t.test(`incremental == full over a random change sequence (seed ${seed})`, async (t) => {
    const world = new RandomWorld(rng(seed));
    const reg = new LocalRegistry({ logger: createSilentLogger(), clock: systemClock });
    let pending: ChangeSet | undefined;
    reg.onChange((c) => (pending = c));
    let inc: LocalDelta = generateLocal({ snapshot: reg.snapshot(), mesh });
    let full: LocalDelta = inc;
    let steps = 0;
    let mismatches = 0;
    let sliceWorkloads = 0;
    for (let i = 0; i < 250; i++) {
      pending = undefined;
      const n = 1 + Math.floor(world['r']() * 3);
      reg.applyEvents(
        'random',
        Array.from({ length: n }, () => world.event()),
      );
      if (!pending) continue;
      steps++;
      const snapshot = reg.snapshot();
      inc = generateLocal({ snapshot, mesh, previous: inc.output, changes: pending });
      const next = generateLocal({ snapshot, mesh, previous: full.output });
      const ok =
        sameMap(t, inc.output.addresses, next.output.addresses, `step ${i} addresses`) &&
        sameMap(t, inc.output.authorizations, next.output.authorizations, `step ${i} authorizations`);
      // The delta sets must match what a full regeneration reports against the same previous state.
      const deltasOk =
        JSON.stringify([
          sorted(inc.changedAddresses),
          sorted(inc.removedAddresses),
          sorted(inc.changedAuthorizations),
          sorted(inc.removedAuthorizations),
        ]) ===
        JSON.stringify([
          sorted(next.changedAddresses),
          sorted(next.removedAddresses),
          sorted(next.changedAuthorizations),
          sorted(next.removedAuthorizations),
        ]);
      if (!deltasOk) {
        t.same(
          {
            ca: sorted(inc.changedAddresses),
            ra: sorted(inc.removedAddresses),
            cz: sorted(inc.changedAuthorizations),
            rz: sorted(inc.removedAuthorizations),
          },
          {
            ca: sorted(next.changedAddresses),
            ra: sorted(next.removedAddresses),
            cz: sorted(next.changedAuthorizations),
            rz: sorted(next.removedAuthorizations),
          },
          `step ${i} delta`,
        );
      }
      const uids = (o: typeof inc.output) =>
        JSON.stringify([...(o.endpointSliceUids ?? new Map())].map(([k, v]) => [k, [...v].sort()]).sort());
      const uidsOk = uids(inc.output) === uids(next.output);
      if (!uidsOk) t.same(uids(inc.output), uids(next.output), `step ${i} EndpointSlice uid index`);
      if (!ok || !deltasOk || !uidsOk) {
        mismatches++;
        break;
      }
      for (const k of inc.output.addresses.keys()) if (k.includes('/discovery.k8s.io/EndpointSlice/')) sliceWorkloads++;
      full = next;
    }
    t.equal(mismatches, 0, 'no divergence');
    t.ok(steps > 150, `exercised ${steps} changing batches`);
    t.ok(inc.output.addresses.size > 10, 'non-trivial final state');
    t.ok(sliceWorkloads > 0, 'EndpointSlice workloads were exercised');
  });
}

t.test(
  "EndpointSlice: incremental withdraws a slice's old endpoints, also from an output without the uid index",
  async (t) => {
    const reg = new LocalRegistry({ logger: createSilentLogger(), clock: systemClock });
    let pending: ChangeSet | undefined;
    reg.onChange((c) => (pending = c));
    const svc = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'ext', namespace: 'a' },
      spec: { ports: [{ name: 'http', port: 80 }] },
    };
    const slice = (...ips: string[]) => ({
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: 'ext-1', namespace: 'a', labels: { 'kubernetes.io/service-name': 'ext' } },
      addressType: 'IPv4',
      ports: [{ name: 'http', port: 8080 }],
      endpoints: ips.map((ip) => ({ addresses: [ip] })),
    });
    reg.applyEvents('s', [
      { type: 'upsert', obj: svc },
      { type: 'upsert', obj: slice('192.168.0.1', '192.168.0.2') },
    ]);
    const first = generateLocal({ snapshot: reg.snapshot(), mesh });
    const uid = (ip: string) => `c1/discovery.k8s.io/EndpointSlice/a/ext-1/${ip}`;
    t.same(first.output.endpointSliceUids?.get('a/ext-1'), [uid('192.168.0.1'), uid('192.168.0.2')]);
    t.match(first.output.addresses.get(uid('192.168.0.1')), {
      workload: { services: { 'a/ext.a.svc.cluster.local': { ports: [{ servicePort: 80, targetPort: 8080 }] } } },
    });

    reg.applyEvents('s', [{ type: 'upsert', obj: slice('192.168.0.2', '192.168.0.3') }]);
    for (const previous of [
      first.output,
      { addresses: first.output.addresses, authorizations: first.output.authorizations },
    ]) {
      const d = generateLocal({ snapshot: reg.snapshot(), mesh, previous, changes: pending! });
      t.same(sorted(d.removedAddresses), [uid('192.168.0.1')], 'the dropped endpoint is withdrawn');
      t.same(sorted(d.changedAddresses), [uid('192.168.0.3')], 'only the new endpoint is new');
    }

    // The Service is half of the input: renaming its port drops the slice's port mapping; deleting it withdraws
    // everything.
    const cur = generateLocal({ snapshot: reg.snapshot(), mesh }).output;
    reg.applyEvents('s', [{ type: 'upsert', obj: { ...svc, spec: { ports: [{ name: 'web', port: 80 }] } } }]);
    const renamed = generateLocal({ snapshot: reg.snapshot(), mesh, previous: cur, changes: pending! });
    t.match(renamed.output.addresses.get(uid('192.168.0.2')), {
      workload: { services: { 'a/ext.a.svc.cluster.local': {} } },
    });
    t.notOk(
      (
        renamed.output.addresses.get(uid('192.168.0.2')) as {
          workload: { services: Record<string, { ports?: unknown }> };
        }
      ).workload.services['a/ext.a.svc.cluster.local']!.ports,
      'no port of that name any more',
    );
    reg.applyEvents('s', [{ type: 'delete', obj: svc }]);
    const gone = generateLocal({ snapshot: reg.snapshot(), mesh, previous: renamed.output, changes: pending! });
    t.same(
      sorted(gone.removedAddresses),
      ['a/ext.a.svc.cluster.local', uid('192.168.0.2'), uid('192.168.0.3')].sort(),
      'service and its endpoint workloads withdrawn',
    );
    t.equal(gone.output.endpointSliceUids?.has('a/ext-1'), false);
  },
);

t.test('incremental == full when several registry batches are merged into one ChangeSet (debounce)', async (t) => {
  const world = new RandomWorld(rng(5150));
  const reg = new LocalRegistry({ logger: createSilentLogger(), clock: systemClock });
  const merged = new Map<Kind, Set<string>>();
  reg.onChange((c) => {
    for (const [k, keys] of c.byKind) {
      let s = merged.get(k);
      if (!s) merged.set(k, (s = new Set()));
      for (const key of keys) s.add(key);
    }
  });
  let inc = generateLocal({ snapshot: reg.snapshot(), mesh });
  let rounds = 0;
  for (let i = 0; i < 80; i++) {
    const batches = 1 + Math.floor(world['r']() * 5);
    for (let b = 0; b < batches; b++) reg.applyEvents('random', [world.event(), world.event()]);
    if (merged.size === 0) continue;
    const changes: ChangeSet = { byKind: new Map(merged) };
    merged.clear();
    const prev = inc.output;
    inc = generateLocal({ snapshot: reg.snapshot(), mesh, previous: prev, changes });
    const fullOut = generateLocal({ snapshot: reg.snapshot(), mesh, previous: prev });
    rounds++;
    if (
      !sameMap(t, inc.output.addresses, fullOut.output.addresses, `round ${i} addresses`) ||
      !sameMap(t, inc.output.authorizations, fullOut.output.authorizations, `round ${i} authorizations`)
    )
      break;
    t.same(sorted(inc.changedAddresses), sorted(fullOut.changedAddresses), `round ${i} changed`);
    t.same(sorted(inc.removedAddresses), sorted(fullOut.removedAddresses), `round ${i} removed`);
  }
  t.ok(rounds > 60, `${rounds} merged rounds`);
});

t.test('unchanged regeneration reports nothing', async (t) => {
  const world = new RandomWorld(rng(7));
  const reg = new LocalRegistry({ logger: createSilentLogger(), clock: systemClock });
  reg.applyEvents(
    's',
    Array.from({ length: 60 }, () => ({ ...world.event(), type: 'upsert' as const })),
  );
  const first = generateLocal({ snapshot: reg.snapshot(), mesh });
  const again = generateLocal({ snapshot: reg.snapshot(), mesh, previous: first.output });
  t.equal(
    again.changedAddresses.size +
      again.removedAddresses.size +
      again.changedAuthorizations.size +
      again.removedAuthorizations.size,
    0,
  );
  const changes: ChangeSet = {
    byKind: new Map([
      ['Namespace', new Set(['a', 'b'])],
      ['Service', new Set(['a/s1'])],
    ]),
  };
  const inc = generateLocal({ snapshot: reg.snapshot(), mesh, previous: first.output, changes });
  t.equal(
    inc.changedAddresses.size + inc.removedAddresses.size,
    0,
    'a no-op change set recomputes but reports nothing',
  );
});

t.test(
  'incremental reuses the previous lookups while no kind they index changed, and rebuilds them when one did',
  async (t) => {
    const reg = new LocalRegistry({ logger: createSilentLogger(), clock: systemClock });
    let pending: ChangeSet | undefined;
    reg.onChange((c) => (pending = c));
    const world = new RandomWorld(rng(99));
    reg.applyEvents('s', [
      { type: 'upsert', obj: world.service() },
      { type: 'upsert', obj: world.pod() },
    ]);
    const first = generateLocal({ snapshot: reg.snapshot(), mesh });
    const lookups = (d: LocalDelta) => (d.output.context as { servicesByNs: unknown }).servicesByNs;
    reg.applyEvents('s', [{ type: 'upsert', obj: world.pod() }]);
    const podOnly = generateLocal({ snapshot: reg.snapshot(), mesh, previous: first.output, changes: pending! });
    t.equal(lookups(podOnly), lookups(first), 'pod change: same service index object');
    reg.applyEvents('s', [
      {
        type: 'upsert',
        obj: {
          apiVersion: 'v1',
          kind: 'Service',
          metadata: { name: 'new', namespace: 'a' },
          spec: { selector: { app: 'x' } },
        },
      },
    ]);
    const svc = generateLocal({ snapshot: reg.snapshot(), mesh, previous: podOnly.output, changes: pending! });
    t.not(lookups(svc), lookups(podOnly), 'service change: rebuilt');
    t.ok(
      (svc.output.context as { servicesByNs: Map<string, unknown[]> }).servicesByNs.get('a')?.length,
      'and it sees the new service',
    );
    const otherMesh = generateLocal({
      snapshot: reg.snapshot(),
      mesh: { ...mesh, domainSuffix: 'example.org' },
      previous: svc.output,
      changes: { byKind: new Map() },
    });
    t.not(lookups(otherMesh), lookups(svc), 'a different domain suffix: rebuilt');
  },
);
