import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadWire } from '../../pkg/wire/schema';
import { generateEncoders, GENERATED_PATH } from './gen-encoders';

t.test('the checked-in generated encoders match what the generator makes from proto/ now', async (t) => {
  const wire = loadWire();
  const checkedIn = fs.readFileSync(path.join(path.dirname(wire.protoDir), GENERATED_PATH), 'utf8');
  t.equal(checkedIn, generateEncoders(wire), `stale ${GENERATED_PATH}: run node dist/tools/protogen/gen-encoders.js`);
});

t.test('the generator refuses field types it does not encode rather than guessing', async (t) => {
  const wire = loadWire();
  t.throws(() => generateEncoders(wire, ['envoy.service.discovery.v3.DeltaDiscoveryRequest']), /not supported/);
});
