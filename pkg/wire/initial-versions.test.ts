import t from 'tap';
import { SetDigest } from './set-digest';

t.test('SetDigest: order-independent, removable, and sensitive to every byte and the length', (t) => {
  const versions = ['0123456789abcdef', 'fedcba9876543210', 'v3', 'vé'];
  const fwd = new SetDigest();
  for (const v of versions) fwd.addVersion(v);
  const rev = new SetDigest();
  for (const v of [...versions].reverse()) rev.addVersion(v);
  t.ok(fwd.equals(rev), 'order does not matter');
  const raw = new SetDigest();
  for (const v of versions) {
    const buf = Buffer.concat([Buffer.from('xyz'), Buffer.from(v), Buffer.from('w')]);
    raw.addBytes(1, buf, 3, buf.length - 1);
  }
  t.ok(raw.equals(fwd), 'bytes at any offset digest like the strings');
  fwd.addVersion('0123456789abcdee');
  t.notOk(fwd.equals(rev));
  fwd.addVersion('0123456789abcdee', -1);
  t.ok(fwd.equals(rev), 'removing a version restores the digest');
  const one = (v: string | Buffer): SetDigest => {
    const d = new SetDigest();
    const b = Buffer.from(v);
    d.addBytes(1, b, 0, b.length);
    return d;
  };
  t.notOk(one('ab').equals(one(Buffer.from('ab\0'))), 'a trailing zero byte counts (the length)');
  t.notOk(one('abcd').equals(one(Buffer.from('abcd\0\0\0\0'))), 'a zero word counts (the length)');
  t.notOk(one('0123456789abcdef').equals(one('0123456789abcdeg')), 'the last byte counts');
  t.notOk(one('1123456789abcdef').equals(one('0123456789abcdef')), 'the first byte counts');
  const twice = new SetDigest();
  twice.addVersion('1');
  twice.addVersion('1');
  t.notOk(twice.equals(new SetDigest()), 'a version listed twice does not cancel');
  t.end();
});
