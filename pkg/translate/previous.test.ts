import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import { systemClock } from '../lifecycle';
import { createSilentLogger } from '../log';
import { LocalRegistry } from '../registry';
import { generateLocal } from './index';
import type { MeshContext } from './index';
import { RandomWorld } from './testing/random';
import { DEFAULT_MESH, outputJson, rng, TESTDATA } from './testing/util';

// testdata/random-mesh.previous.json is the full translation of three seeded random meshes (400 random events each:
// pods, services, policies, PeerAuthentications, WorkloadEntries, gateways, EndpointSlices) written by the
// implementation before the issue #20 optimisations (main d36fbe6). The optimised path must print the very same JSON:
// same resources, same fields, same key order. A deliberate change of translation semantics rewrites the file with
// the JSON this test builds ({seed: outputJson(...)}), as for the other goldens.
// The incremental property test's mesh: a cluster id and a local network, so remote networks and gateways count.
const mesh: MeshContext = { ...DEFAULT_MESH, clusterId: 'c1', network: 'net-main' };

const previousFile = path.join(TESTDATA, 'random-mesh.previous.json');
const previous = JSON.parse(readFileSync(previousFile, 'utf8')) as Record<string, unknown>;

for (const seed of [7, 99, 2026]) {
  t.test(`seed ${seed}: full translation equals the previous implementation's`, async (t) => {
    const world = new RandomWorld(rng(seed));
    const reg = new LocalRegistry({ logger: createSilentLogger(), clock: systemClock });
    for (let i = 0; i < 400; i++) reg.applyEvents('random', [world.event()]);
    const out = outputJson(generateLocal({ snapshot: reg.snapshot(), mesh }).output);
    const want = previous[String(seed)];
    t.ok(want, 'recorded output present');
    t.equal(JSON.stringify(out), JSON.stringify(want), 'byte-identical JSON (key order included)');
    t.same(out, want);
  });
}
