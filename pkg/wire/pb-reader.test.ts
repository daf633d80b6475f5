import t from 'tap';
import { forEachLenField, readVarint } from './pb-reader';

// A Workload-like message as our writers lay it out: fields in number order, varints and bytes mixed.
// 1 name "p", 3 address (4 bytes), 4 network "n", 5 tunnel protocol (varint 1), 22 services (bytes, 2-byte tag).
const msg = Buffer.from([0x0a, 1, 0x70, 0x1a, 4, 10, 0, 0, 1, 0x22, 1, 0x6e, 0x28, 0x01, 0xb2, 0x01, 2, 0xaa, 0xbb]);

t.test('readVarint reads one- and multi-byte varints', async (t) => {
  t.same(readVarint(Buffer.from([0x05]), 0), [5, 1]);
  t.same(readVarint(Buffer.from([0xb2, 0x01]), 0), [178, 2]);
  t.same(readVarint(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]), 0), [0xffffffff, 5]);
});

t.test('forEachLenField visits the length-delimited fields in order and skips the rest', async (t) => {
  const seen: [number, string][] = [];
  forEachLenField(msg, 0, msg.length, (f, s, e) => void seen.push([f, msg.toString('hex', s, e)]));
  t.same(seen, [
    [1, '70'],
    [3, '0a000001'],
    [4, '6e'],
    [22, 'aabb'],
  ]);
});

t.test('a visit that returns false ends the walk there', async (t) => {
  const seen: number[] = [];
  forEachLenField(msg, 0, msg.length, (f) => {
    seen.push(f);
    if (f > 3) return false;
  });
  t.same(seen, [1, 3, 4], 'nothing after the field that stopped it');
});
