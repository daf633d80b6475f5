import t from 'tap';
import { MessageReader } from './message-reader';
import { ReceivePool, type MessageLease } from './receive-pool';

const KiB = 1024;

function frame(msg: Buffer): Buffer {
  const f = Buffer.alloc(5 + msg.length);
  f.writeUInt32BE(msg.length, 1);
  msg.copy(f, 5);
  return f;
}

/** A message whose every byte says who sent it: stream s, message m. */
function pattern(s: number, m: number, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (s * 31 + m * 7 + i) & 0xff;
  return b;
}

t.test('a pooled buffer is not handed out again while any hold on it remains', (t) => {
  const pool = new ReceivePool({ minBytes: 64 * KiB, maxBytes: 1024 * KiB });
  const a = pool.take(100 * KiB)!;
  a.buf.fill(0xaa, 0, 100 * KiB);
  const b = pool.take(100 * KiB)!;
  t.not(b.buf.buffer, a.buf.buffer, 'a second take while the first is leased gets another buffer');
  b.buf.fill(0xbb);
  const shared = a.lease.share();
  a.lease.release();
  const c = pool.take(100 * KiB)!;
  t.not(c.buf.buffer, a.buf.buffer, 'a shared hold keeps the buffer out of the pool');
  c.buf.fill(0xcc);
  t.ok(
    a.buf.subarray(0, 100 * KiB).every((x) => x === 0xaa),
    'the leased bytes are intact after other takes were filled',
  );
  shared.release();
  const d = pool.take(90 * KiB)!;
  t.equal(d.buf.buffer, a.buf.buffer, 'released by every holder: reused for the next message of its size class');
  t.equal(pool.allocated, 3);
  t.equal(pool.reused, 1);
  t.throws(() => a.lease.share(), /after release/, 'a released hold cannot be shared');
  t.end();
});

t.test('release is idempotent: a second release does not give up another holder', (t) => {
  const pool = new ReceivePool({ minBytes: 64 * KiB });
  const a = pool.take(64 * KiB)!;
  const s = a.lease.share();
  a.lease.release();
  a.lease.release();
  const b = pool.take(64 * KiB)!;
  t.not(b.buf.buffer, a.buf.buffer, 'still held by the share');
  s.release();
  s.release();
  t.equal(pool.idleBytes, 64 * KiB, 'returned once');
  t.equal(pool.take(64 * KiB)!.buf.buffer, a.buf.buffer);
  t.equal(pool.idleBytes, 0);
  t.end();
});

t.test('sizes outside the pooled range bypass the pool; idle bytes stay bounded', (t) => {
  const pool = new ReceivePool({ minBytes: 64 * KiB, maxBytes: 256 * KiB, maxIdleBytes: 512 * KiB });
  t.equal(pool.take(256 * KiB + 1), undefined, 'larger than the largest class: the caller allocates');
  t.equal(pool.take(1)!.buf.length, 64 * KiB, 'small sizes take the smallest class');
  const held = [1, 2, 3].map(() => pool.take(200 * KiB)!);
  for (const h of held) h.lease.release();
  t.equal(pool.idleBytes, 512 * KiB, 'two 256 KiB buffers kept, the third left to the GC');

  // Through the reader: a message above maxBytes is joined the plain way and comes without a lease.
  const leases: (MessageLease | undefined)[] = [];
  const got: Buffer[] = [];
  const r = new MessageReader(
    { check: () => true, message: (m, l) => (got.push(Buffer.from(m)), leases.push(l)) },
    pool,
  );
  const big = pattern(1, 1, 300 * KiB);
  const small = pattern(1, 2, 100 * KiB);
  const bytes = Buffer.concat([frame(big), frame(small)]);
  for (let at = 0; at < bytes.length; at += 16 * KiB) r.push(bytes.subarray(at, at + 16 * KiB));
  t.same(
    got.map((m) => m.equals(big) || m.equals(small)),
    [true, true],
  );
  t.equal(leases[0], undefined, 'the large message is not pooled');
  t.ok(leases[1], 'the message that fits a class is');
  t.end();
});

t.test('streams sharing a pool: every message intact until its holder releases it, in any order', (t) => {
  const pool = new ReceivePool({ minBytes: 16 * KiB, maxBytes: 512 * KiB, maxIdleBytes: 2 * 1024 * KiB });
  let seed = 42;
  const rnd = (n: number): number => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n) + 1;
  const held: { msg: Buffer; want: Buffer; lease: MessageLease | undefined }[] = [];
  let checked = 0;
  let corrupt = 0;
  const releaseSome = (): void => {
    // Holders finish in no particular order; each checks its bytes at the last moment it may read them.
    while (held.length > 0 && rnd(3) === 1) {
      const h = held.splice(rnd(held.length) - 1, 1)[0]!;
      if (!h.msg.equals(h.want)) corrupt++;
      checked++;
      h.lease?.release();
    }
  };
  const streams = [0, 1, 2, 3].map((s) => {
    const sizes = Array.from({ length: 12 }, () => rnd(200 * KiB));
    const msgs = sizes.map((n, m) => pattern(s, m, n));
    let next = 0;
    const r = new MessageReader(
      {
        check: () => true,
        message: (msg, lease) => {
          const want = msgs[next++]!;
          held.push({ msg, want, lease });
          releaseSome();
        },
      },
      pool,
    );
    return { r, bytes: Buffer.concat(msgs.map(frame)), at: 0 };
  });
  // Interleave the streams' chunks (HTTP/2 DATA of several streams arrive in any order).
  for (;;) {
    const open = streams.filter((s) => s.at < s.bytes.length);
    if (open.length === 0) break;
    const s = open[rnd(open.length) - 1]!;
    const n = Math.min(rnd(40 * KiB), s.bytes.length - s.at);
    s.r.push(s.bytes.subarray(s.at, s.at + n));
    s.at += n;
  }
  while (held.length > 0) {
    seed++;
    releaseSome();
  }
  t.equal(checked, 48, 'every message delivered');
  t.equal(corrupt, 0, 'no message changed while held');
  t.ok(pool.reused > 0, 'buffers were reused');
  t.end();
});

t.test('trimIfQuiet: idle buffers stay while takes continue, and go after a quiet period', async (t) => {
  const pool = new ReceivePool({ minBytes: 1024, maxBytes: 4096, maxIdleBytes: 1 << 20 });
  // A message in flight all along (2 KiB class), so the pool keeps what comes back.
  t.ok(pool.take(2000), 'another message in flight');
  const a = pool.take(3000)!;
  const b = pool.take(1000)!;
  a.lease.release();
  b.lease.release();
  t.equal(pool.idleBytes, 4096 + 1024, 'both buffers idle in the pool');
  t.equal(pool.trimIfQuiet(), 0, 'takes since the last trim: kept');
  t.equal(pool.idleBytes, 4096 + 1024);
  t.equal(pool.trimIfQuiet(), 4096 + 1024, 'no take since the last trim: dropped');
  t.equal(pool.idleBytes, 0);
  const c = pool.take(3000)!;
  t.equal(pool.allocated, 4, 'a take after the trim allocates afresh');
  c.lease.release();
  t.equal(pool.idleBytes, 4096, 'and the pool refills as before');
});

t.test('when the last leased buffer comes back, only it stays idle, until a quiet trim', (t) => {
  const pool = new ReceivePool({ minBytes: 1024, maxBytes: 4096, maxIdleBytes: 1 << 20 });
  const a = pool.take(3000)!;
  const b = pool.take(3000)!;
  a.lease.release();
  t.equal(pool.idleBytes, 4096, 'kept while another buffer is out');
  const c = pool.take(3000)!;
  t.equal(c.buf.buffer, a.buf.buffer, 'and reused');
  const d = pool.take(1000)!;
  d.lease.release();
  t.equal(pool.idleBytes, 1024, 'idle while buffers are out');
  c.lease.release();
  b.lease.release();
  t.equal(pool.idleBytes, 4096 + 1024, 'none out: one buffer per size class kept');
  const e = pool.take(3000)!;
  t.ok(e.buf.buffer === a.buf.buffer || e.buf.buffer === b.buf.buffer, 'a kept buffer serves the next message');
  e.lease.release();
  t.equal(pool.trimIfQuiet(), 0, 'a take since the last trim: kept');
  t.equal(pool.trimIfQuiet(), 4096 + 1024, 'no take since: dropped, an idle server holds none');
  t.equal(pool.idleBytes, 0);
  pool.take(3000)!.lease.release();
  t.equal(pool.allocated, 4, 'the next message after the trim allocates afresh');
  t.end();
});

t.test('a storm served one message at a time reuses one buffer', (t) => {
  const pool = new ReceivePool({ minBytes: 64 * KiB, maxBytes: 4096 * KiB, maxIdleBytes: 64 * 1024 * KiB });
  for (let i = 0; i < 50; i++) {
    const m = pool.take(1100 * KiB + i)!;
    m.buf.fill(i & 0xff, 0, 1100 * KiB);
    m.lease.release();
  }
  t.equal(pool.allocated, 1, 'one allocation for 50 serial 1.1 MB messages');
  t.equal(pool.reused, 49);
  t.equal(pool.idleBytes, 2048 * KiB, 'one 2 MiB buffer idle between storms');
  t.end();
});

t.test('serial messages alternating between two size classes reuse one buffer of each', (t) => {
  const pool = new ReceivePool({ minBytes: 64 * KiB, maxBytes: 4096 * KiB, maxIdleBytes: 64 * 1024 * KiB });
  for (let i = 0; i < 20; i++) pool.take(i % 2 === 0 ? 1100 * KiB : 300 * KiB)!.lease.release();
  t.equal(pool.allocated, 2, 'one per class');
  t.equal(pool.reused, 18);
  t.equal(pool.idleBytes, 2048 * KiB + 512 * KiB);
  const held = [1, 2, 3].map(() => pool.take(1100 * KiB)!);
  for (const h of held) h.lease.release();
  t.equal(pool.idleBytes, 2048 * KiB + 512 * KiB, 'after a burst, one per class again');
  t.end();
});

t.test('a buffer larger than the idle budget is not kept when it comes back last', (t) => {
  const pool = new ReceivePool({ minBytes: 1024, maxBytes: 8192, maxIdleBytes: 4096 });
  pool.take(8000)!.lease.release();
  t.equal(pool.idleBytes, 0, 'over maxIdleBytes: left to the GC');
  t.end();
});

t.test('a message is copied into its pooled buffer as it arrives, once the handler lets it fill', (t) => {
  const pool = new ReceivePool({ minBytes: 64 * KiB, maxBytes: 1024 * KiB });
  let may = false;
  const got: Buffer[] = [];
  const r = new MessageReader(
    { check: () => true, mayFill: () => may, message: (m, l) => (got.push(Buffer.from(m)), l?.release()) },
    pool,
  );
  const msg = pattern(3, 1, 500 * KiB);
  const bytes = frame(msg);
  const chunks: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += 16 * KiB) chunks.push(Buffer.from(bytes.subarray(at, at + 16 * KiB)));
  for (let i = 0; i < 5; i++) r.push(chunks[i]!);
  t.equal(pool.allocated, 0, 'nothing taken while the handler says no (e.g. waiting for the receive budget)');
  may = true;
  for (let i = 5; i < chunks.length; i++) {
    r.push(chunks[i]!);
    if (i < chunks.length - 1) chunks[i]!.fill(0xee);
    if (i === 5) for (let k = 0; k < 5; k++) chunks[k]!.fill(0xee);
  }
  t.equal(pool.allocated, 1, 'one buffer, taken while the message was incomplete');
  t.equal(got.length, 1);
  t.ok(got[0]!.equals(msg), 'intact although every chunk was overwritten right after it was pushed: none was kept');

  // A reader stopped mid-message gives its buffer back.
  chunks[0]!.fill(0).writeUInt32BE(300 * KiB, 1);
  const r3 = new MessageReader({ check: () => true, message: () => t.fail('no message') }, pool);
  r3.push(chunks[0]!);
  r3.push(chunks[1]!);
  t.equal(pool.idleBytes, 0, 'leased while filling');
  r3.stop();
  t.equal(pool.idleBytes, 512 * KiB, 'stop() released it');
  t.end();
});
