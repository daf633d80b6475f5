import { readdirSync } from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import type { Test } from 'tap';
import type * as protobuf from 'protobufjs';
import { systemClock } from '../lifecycle';
import { createSilentLogger } from '../log';
import { LocalRegistry } from '../registry';
import { generateLocal, msgEqual } from './index';
import type { LocalOutput } from './index';
import { RandomWorld } from './testing/random';
import { loadFixture, loadProtoRoot, rng, TESTDATA } from './testing/util';

// Every generated message must be valid for the wire schema ztunnel compiles:
// Type.verify() accepts it, and encode → decode → toObject gives it back.
const root = loadProtoRoot();
const Address = root.lookupType('istio.workload.Address');
const Authorization = root.lookupType('istio.security.Authorization');

function check(t: Test, out: LocalOutput, label: string): void {
  let n = 0;
  const failures: string[] = [];
  const roundTrip = (type: protobuf.Type, name: string, msg: object): void => {
    n++;
    const err = type.verify(msg);
    if (err !== null) {
      failures.push(`${name}: verify: ${err}`);
      return;
    }
    const bytes = type.encode(msg).finish();
    const back = type.toObject(type.decode(bytes), { enums: Number, longs: Number });
    if (!msgEqual(back, msg))
      failures.push(`${name}: round trip differs: ${JSON.stringify(back)} vs ${JSON.stringify(msg)}`);
  };
  for (const [k, m] of out.addresses) roundTrip(Address, k, m);
  for (const [k, m] of out.authorizations) roundTrip(Authorization, k, m);
  t.same(failures, [], `${label}: ${n} messages verify and round-trip`);
}

for (const f of readdirSync(TESTDATA)
  .filter((n) => n.endsWith('.yaml'))
  .sort()) {
  t.test(`fixture ${f}`, async (t) => {
    const { registry, mesh } = loadFixture(path.join(TESTDATA, f));
    check(t, generateLocal({ snapshot: registry.snapshot(), mesh }).output, f);
  });
}

t.test('random world', async (t) => {
  const world = new RandomWorld(rng(99));
  const reg = new LocalRegistry({ logger: createSilentLogger(), clock: systemClock });
  reg.applyEvents(
    's',
    Array.from({ length: 300 }, () => ({ ...world.event(), type: 'upsert' as const })),
  );
  const out = generateLocal({
    snapshot: reg.snapshot(),
    mesh: {
      clusterId: 'c1',
      network: 'net-main',
      trustDomain: 'example.org',
      domainSuffix: 'cluster.local',
      rootNamespace: 'istio-system',
    },
  }).output;
  t.ok(out.addresses.size > 20);
  check(t, out, 'random');
});

t.test('resource names equal the keys ztunnel derives from the message', async (t) => {
  const { registry, mesh } = loadFixture(path.join(TESTDATA, 'pod-basic.yaml'));
  const out = generateLocal({ snapshot: registry.snapshot(), mesh }).output;
  for (const [k, m] of out.addresses) {
    if ('workload' in m) t.equal(k, m.workload.uid);
    else t.equal(k, `${m.service.namespace}/${m.service.hostname}`);
  }
});
