import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadWire } from '../../pkg/wire/schema';
import { generateEncoders, GENERATED_DIR } from './gen-encoders';

t.test('the checked-in generated encoders match what the generator makes from proto/ now', async (t) => {
  const wire = loadWire();
  const repo = path.dirname(wire.protoDir);
  const files = generateEncoders(wire);
  const stale = 'run node dist/tools/protogen/gen-encoders.js';
  const checkedIn = fs
    .readdirSync(path.join(repo, GENERATED_DIR))
    .map((f) => `${GENERATED_DIR}/${f}`)
    .sort();
  t.same(checkedIn, [...files.keys()].sort(), `the files in ${GENERATED_DIR} (${stale})`);
  for (const [rel, text] of files) {
    const file = path.join(repo, rel);
    t.equal(fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '', text, `stale ${rel}: ${stale}`);
  }
});

t.test('every generated file stays within the house limits (≤ 400 lines, lines ≤ 120 characters)', async (t) => {
  for (const [rel, text] of generateEncoders(loadWire())) {
    const lines = text.split('\n');
    t.ok(lines.length <= 400, `${rel}: ${lines.length} lines`);
    t.same(
      lines.filter((l) => l.length > 120),
      [],
      `${rel}: no line over 120 characters`,
    );
  }
});

t.test('the generator refuses field types it does not encode rather than guessing', async (t) => {
  const wire = loadWire();
  t.throws(() => generateEncoders(wire, ['envoy.service.discovery.v3.DeltaDiscoveryRequest']), /not supported/);
});
