import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import { generateLocal } from './index';
import { loadFixture, outputJson, TESTDATA } from './testing/util';

// One fixture per translation rule: testdata/<rule>.yaml (Kubernetes objects,
// each file's header says what it covers) → testdata/<rule>.golden.json.
const fixtures = readdirSync(TESTDATA)
  .filter((n) => n.endsWith('.yaml'))
  .sort();

t.ok(fixtures.length >= 7, 'fixtures present');

for (const f of fixtures) {
  t.test(f, async (t) => {
    const { registry, mesh } = loadFixture(path.join(TESTDATA, f));
    const delta = generateLocal({ snapshot: registry.snapshot(), mesh });
    const expected = JSON.parse(readFileSync(path.join(TESTDATA, f.replace(/\.yaml$/, '.golden.json')), 'utf8'));
    t.same(outputJson(delta.output), expected);
    t.same(
      [...delta.changedAddresses].sort(),
      [...delta.output.addresses.keys()].sort(),
      'first generation: everything is new',
    );
    t.equal(delta.removedAddresses.size, 0);
  });
}
