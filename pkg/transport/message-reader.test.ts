import t from 'tap';
import { MessageReader } from './message-reader';

function frame(msg: Buffer, compressed = false): Buffer {
  const f = Buffer.alloc(5 + msg.length);
  f[0] = compressed ? 1 : 0;
  f.writeUInt32BE(msg.length, 1);
  msg.copy(f, 5);
  return f;
}

t.test(
  'messages split at every kind of boundary (inside the prefix, inside the body, several per chunk) ' +
    'arrive whole and in order',
  (t) => {
    const msgs = [Buffer.alloc(0), Buffer.from('a'), Buffer.alloc(70_000, 7), Buffer.from('tail')];
    const stream = Buffer.concat(msgs.map((m) => frame(m)));
    let seed = 12345;
    const rnd = (n: number): number => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n) + 1;
    for (let round = 0; round < 50; round++) {
      const got: Buffer[] = [];
      let collecting = 0;
      let joined = 0;
      const r = new MessageReader({
        check: () => true,
        message: (m) => got.push(Buffer.from(m)),
        collecting: () => collecting++,
        joined: () => joined++,
      });
      // Round 0 feeds one byte at a time; later rounds random sizes.
      for (let at = 0; at < stream.length;) {
        const n = round === 0 ? 1 : Math.min(rnd(20_000), stream.length - at);
        r.push(stream.subarray(at, at + n));
        at += n;
      }
      t.same(
        got.map((m) => m.toString('hex')),
        msgs.map((m) => m.toString('hex')),
        `round ${round}`,
      );
      t.ok(joined >= collecting, 'every collected message was joined');
    }
    t.end();
  },
);

t.test('a refused prefix stops the reader: nothing after it is delivered', (t) => {
  const got: string[] = [];
  const seen: [boolean, number][] = [];
  const r = new MessageReader({
    check: (compressed, len) => (seen.push([compressed, len]), !compressed && len <= 10),
    message: (m) => got.push(m.toString()),
  });
  r.push(
    Buffer.concat([frame(Buffer.from('ok')), frame(Buffer.from('big message here')), frame(Buffer.from('never'))]),
  );
  r.push(frame(Buffer.from('later')));
  t.same(got, ['ok']);
  t.same(seen, [
    [false, 2],
    [false, 16],
  ]);
  const c: string[] = [];
  const r2 = new MessageReader({ check: (compressed) => !compressed, message: (m) => c.push(m.toString()) });
  r2.push(Buffer.concat([frame(Buffer.from('x'), true), frame(Buffer.from('y'))]));
  t.same(c, [], 'a compressed message is refused too');
  t.end();
});
