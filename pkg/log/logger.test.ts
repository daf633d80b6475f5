import t from 'tap';
import { PassThrough } from 'node:stream';
import { createRootLogger } from './logger';
import { duplicateKeys } from './testing/json-keys';

function capture(): { stream: PassThrough; lines: () => string[] } {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (c: Buffer) => (text += c.toString()));
  return { stream, lines: () => text.split('\n').filter(Boolean) };
}

t.test('duplicateKeys finds repeated names at any depth and nothing else', async (t) => {
  t.same(duplicateKeys('{"a":1,"b":{"c":1,"c":2},"a":"x\\"a\\""}'), ['b.c', 'a']);
  t.same(
    duplicateKeys('{"a":[{"k":1},{"k":2}],"s":"{\\"a\\":1}"}'),
    [],
    'same key in sibling objects and in strings is fine',
  );
  t.throws(() => duplicateKeys('{"a":'), 'not JSON');
});

t.test('nested child loggers that bind the same key write it once, the innermost value winning', async (t) => {
  const cap = capture();
  const root = createRootLogger({ destination: cap.stream });
  const daemon = root.child({ component: 'daemon', peer: 'p1' });
  const admin = daemon.child({ component: 'admin' });
  const stream = admin.child({ streamId: 7 }).child({ streamId: 8, component: 'xds' });
  admin.info('one');
  stream.info({ extra: true }, 'two');
  daemon.info('three');
  await new Promise((r) => setImmediate(r));
  const lines = cap.lines();
  t.equal(lines.length, 3);
  for (const l of lines) t.same(duplicateKeys(l), [], `no repeated key: ${l}`);
  const [one, two, three] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  t.match(one, { component: 'admin', peer: 'p1', app: 'ambientd', msg: 'one' });
  t.match(two, { component: 'xds', streamId: 8, peer: 'p1', extra: true, msg: 'two' });
  t.match(three, { component: 'daemon', msg: 'three' }, 'the parent keeps its own binding');
});
