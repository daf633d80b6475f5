import t from 'tap';
import { SetDigest } from './set-digest';

t.test('SetDigest: order-independent, removable, and sensitive to how bytes split between name and version', (t) => {
  const pairs: [string, string][] = [
    ['ns/a', 'v1'],
    ['ns/b', 'v2'],
    ['ns/ç', 'v3'],
  ];
  const fwd = new SetDigest();
  for (const [n, v] of pairs) fwd.addPair(n, v);
  const rev = new SetDigest();
  for (const [n, v] of [...pairs].reverse()) rev.addPair(n, v);
  t.ok(fwd.equals(rev), 'order does not matter');
  const raw = new SetDigest();
  for (const [n, v] of pairs) {
    const nb = Buffer.from(n);
    const buf = Buffer.concat([Buffer.from('xx'), nb, Buffer.from(v)]);
    raw.addBytes(buf, 2, 2 + nb.length, 2 + nb.length, buf.length);
  }
  t.ok(raw.equals(fwd), 'bytes at any offset digest like the strings');
  fwd.addPair('ns/d', 'v4');
  t.notOk(fwd.equals(rev));
  fwd.addPair('ns/d', 'v4', -1);
  t.ok(fwd.equals(rev), 'removing a pair restores the digest');
  const x = new SetDigest();
  x.addPair('ab', 'c');
  const y = new SetDigest();
  y.addPair('a', 'bc');
  t.notOk(x.equals(y), 'the name/version boundary is part of the pair');
  const twice = new SetDigest();
  twice.addPair('p', '1');
  twice.addPair('p', '1');
  t.notOk(twice.equals(new SetDigest()), 'a pair listed twice does not cancel');
  t.end();
});
