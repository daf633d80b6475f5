import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t from 'tap';
import { systemClock } from '../../pkg/lifecycle';
import { createSilentLogger } from '../../pkg/log';
import { Encoder, fullDelta } from '../../pkg/push';
import { LocalRegistry, parseManifest, type RegistrySnapshot } from '../../pkg/registry';
import { generateLocal, type MeshContext } from '../../pkg/translate';
import { loadFixture, loadMeshDir, TESTDATA } from '../../pkg/translate/testing/util';
import { loadWire, TYPE_ADDRESS } from '../../pkg/wire';
import { designDiffering } from './encoded-entries';
import { writeMesh } from './mesh-gen';
import { encodePods } from './translate-encoded';

// The bytes design's prototype is a figure only while its bytes are the real ones: every pod's message equals the
// generated encoder's encoding of pkg/translate's Workload, and every entry made from it equals the Encoder's,
// frame for frame, on the translation fixtures, the shipped example meshes and the bench mesh.

const wire = loadWire();

/** Pods the design gets wrong, and how many of the snapshot's pods it wrote by each path. */
function check(snapshot: RegistrySnapshot, mesh: MeshContext): { bad: number; pods: number; general: number } {
  const addresses = generateLocal({ snapshot, mesh }).output.addresses;
  const ref = new Encoder(wire, new Map([[TYPE_ADDRESS, wire.Address]])).encode(fullDelta(TYPE_ADDRESS, addresses));
  const out = encodePods(snapshot, mesh);
  return {
    bad: designDiffering(snapshot, mesh, addresses, ref.upserts ?? []),
    pods: out.names.size,
    general: out.generalPods,
  };
}

let shared = 0;
let general = 0;

for (const f of fs.readdirSync(TESTDATA).filter((n) => n.endsWith('.yaml'))) {
  t.test(`fixture ${f}`, async (t) => {
    const { registry, mesh } = loadFixture(path.join(TESTDATA, f));
    const r = check(registry.snapshot(), mesh);
    t.equal(r.bad, 0, 'every message and frame is the real one');
    shared += r.pods - r.general;
    general += r.general;
  });
}

for (const [dir, clusterId, network] of [
  ['examples/default/mesh', 'cluster-default', ''],
  ['examples/two-cluster/cluster-a/mesh', 'cluster-a', 'net-a'],
  ['examples/two-cluster/cluster-b/mesh', 'cluster-b', 'net-b'],
] as const) {
  t.test(dir, async (t) => {
    const { registry, source } = await loadMeshDir(dir);
    t.teardown(() => source.close());
    const mesh = {
      clusterId,
      network,
      trustDomain: 'cluster.local',
      domainSuffix: 'cluster.local',
      rootNamespace: 'istio-system',
    };
    const r = check(registry.snapshot(), mesh);
    t.ok(r.pods > 0, 'pods written');
    t.equal(r.bad, 0, 'every message and frame is the real one');
    shared += r.pods - r.general;
    general += r.general;
  });
}

t.test('the bench mesh: every pod on the shared path', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'translate-encoded-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  writeMesh(dir, { workloads: 500, services: 20, policies: 4 });
  const registry = new LocalRegistry({ logger: createSilentLogger(), clock: systemClock });
  for (const f of fs.readdirSync(dir).filter((n) => n.endsWith('.yaml')))
    registry.replaceSource(f, parseManifest(fs.readFileSync(path.join(dir, f), 'utf8'), f).objects);
  const mesh = {
    clusterId: 'bench',
    network: '',
    trustDomain: 'cluster.local',
    domainSuffix: 'cluster.local',
    rootNamespace: 'istio-system',
  };
  const r = check(registry.snapshot(), mesh);
  t.equal(r.pods, 500);
  t.equal(r.general, 0, 'no pod built by the general path');
  t.equal(r.bad, 0, 'every message and frame is the real one');
});

t.test('both paths ran over the fixtures and examples', async (t) => {
  t.ok(shared > 0, `pods on the shared path: ${shared}`);
  t.ok(general > 0, `pods on the general path: ${general}`);
});
