/**
 * Regenerates testdata/*.golden.json from the fixtures. Run by hand after a
 * deliberate semantic change, then review the diff line by line:
 *   node dist/pkg/translate/testing/update-golden.js
 */
import { readdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { generateLocal } from '../generate';
import { loadFixture, outputJson, TESTDATA } from './util';

for (const f of readdirSync(TESTDATA)
  .filter((n) => n.endsWith('.yaml'))
  .sort()) {
  const { registry, mesh } = loadFixture(path.join(TESTDATA, f));
  const out = generateLocal({ snapshot: registry.snapshot(), mesh }).output;
  writeFileSync(
    path.join(TESTDATA, f.replace(/\.yaml$/, '.golden.json')),
    `${JSON.stringify(outputJson(out), null, 2)}\n`,
  );
}
