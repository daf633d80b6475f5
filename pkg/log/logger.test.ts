import t from 'tap';
import { PassThrough } from 'node:stream';
import { createRootLogger } from './logger';
import { rateLimitedWarn } from './rate-limited';
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

t.test('rateLimitedWarn: at most perSecond lines a window, then one line counting the rest', async (t) => {
  const cap = capture();
  let now = 1_000_000;
  const warn = rateLimitedWarn(createRootLogger({ destination: cap.stream }), {
    perSecond: 3,
    suppressedMsg: 'dropped',
    now: () => now,
  });
  for (let i = 0; i < 5; i++) warn({ i }, 'refused');
  now += 999;
  warn({ i: 5 }, 'refused'); // same window: dropped
  now += 1;
  warn({ i: 6 }, 'refused'); // a new window: the count of dropped lines first
  await new Promise((r) => setImmediate(r));
  type Line = { msg: string; i?: number; suppressed?: number; level: number };
  const lines = cap.lines().map((l) => JSON.parse(l) as Line);
  t.same(
    lines.map((l) => [l.msg, l.i ?? l.suppressed]),
    [
      ['refused', 0],
      ['refused', 1],
      ['refused', 2],
      ['dropped', 3],
      ['refused', 6],
    ],
  );
  t.ok(
    lines.every((l) => l.level === 40),
    'all at warn level',
  );
});
