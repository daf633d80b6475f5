import t from 'tap';
import { loadWire, scanDeltaRequest, TYPE_ADDRESS, type DeltaRequest } from '../wire';
import { ReceivePool, type MessageLease } from '../transport';
import { waitFor } from '../lifecycle';
import { RequestPump } from './request-pump';

const wire = loadWire();
const REQ = wire.DeltaDiscoveryRequest;
const enc = (o: Record<string, unknown>): Buffer => Buffer.from(REQ.encode(REQ.fromObject(o)).finish());
const names = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

/** A message as the transport delivers a joined one: its bytes in a pooled buffer, with the lease. */
function pooled(pool: ReceivePool, msg: Buffer): { buf: Buffer; lease: MessageLease } {
  const p = pool.take(msg.length)!;
  msg.copy(p.buf);
  return { buf: p.buf.subarray(0, msg.length), lease: p.lease };
}

function rig(namesPerTurn = 1 << 20, keep?: (req: DeltaRequest, lease: MessageLease) => void) {
  const applied: DeltaRequest[] = [];
  let closed = false;
  const pump = new RequestPump({
    decode: (b) => {
      try {
        return scanDeltaRequest(REQ, b);
      } catch {
        return undefined;
      }
    },
    apply: (r, lease) => {
      applied.push(r);
      keep?.(r, lease);
    },
    sliceable: () => true,
    closed: () => closed,
    read: { pauseReading: () => undefined, resumeReading: () => undefined },
    namesPerTurn,
    bytesPerTurn: 1 << 30,
    namesPerSecond: 1e9,
    bytesPerSecond: 1e12,
    now: () => 0,
  });
  return {
    pump,
    applied,
    close: () => (closed = true),
    idle: () => waitFor(() => pump.idle, { timeoutMs: 10_000, what: 'pump drained', intervalMs: 1 }),
  };
}

t.test('a whole request: its buffer goes back once applied; a holder that shares keeps it', (t) => {
  const pool = new ReceivePool({ minBytes: 1024 });
  // Another stream's message stays in flight: the pool keeps what comes back (it drops all once none is out).
  t.ok(pool.take(1), 'another message in flight');
  const irv = Object.fromEntries(names('Kubernetes//Pod/default/w-', 200).map((n) => [n, 'v1']));
  const msg = enc({ typeUrl: TYPE_ADDRESS, resourceNamesSubscribe: ['*'], initialResourceVersions: irv });
  let kept: MessageLease | undefined;
  const r = rig(1 << 20, (_req, lease) => (kept = lease.share()));
  const m = pooled(pool, msg);
  r.pump.push(m.buf, m.lease);
  t.equal(r.applied.length, 1);
  t.equal(pool.idleBytes, 0, 'the stream still holds the bytes its initial_resource_versions reads');
  t.equal(r.applied[0]!.initialResourceVersions.get('Kubernetes//Pod/default/w-7'), 'v1');
  kept!.release();
  t.equal(pool.idleBytes, m.buf.buffer.byteLength, 'then returned');
  const plain = rig();
  const m2 = pooled(pool, msg);
  plain.pump.push(m2.buf, m2.lease);
  t.ok(pool.idleBytes > 0, 'nobody kept it: returned right after apply');
  t.end();
});

t.test('a sliced request holds its bytes until the last slice; a malformed one releases at once', async (t) => {
  const pool = new ReceivePool({ minBytes: 1024 });
  // Another stream's message stays in flight: the pool keeps what comes back (it drops all once none is out).
  t.ok(pool.take(1), 'another message in flight');
  const sub = names('Kubernetes//Pod/default/w-', 3000);
  const msg = enc({ typeUrl: TYPE_ADDRESS, resourceNamesSubscribe: sub });
  const r = rig(1000);
  const m = pooled(pool, msg);
  r.pump.push(m.buf, m.lease);
  t.equal(r.applied.length, 1, 'first slice');
  t.equal(pool.idleBytes, 0, 'held while slices remain');
  await r.idle();
  t.same(
    r.applied.flatMap((s) => s.subscribe),
    sub,
    'every name, intact',
  );
  t.ok(pool.idleBytes > 0, 'returned after the last slice');

  const bad = rig();
  const junk = pooled(pool, Buffer.from([0xff, 0xff, 0xff]));
  const before = pool.idleBytes;
  bad.pump.push(junk.buf, junk.lease);
  t.equal(bad.applied.length, 0);
  t.ok(pool.idleBytes > before, 'the refused message is released');
});

t.test('a stream that ends drops what waits and releases it', async (t) => {
  const pool = new ReceivePool({ minBytes: 1024, maxIdleBytes: 1 << 30 });
  // Another stream's message stays in flight: the pool keeps what comes back (it drops all once none is out).
  t.ok(pool.take(1), 'another message in flight');
  const r = rig(1000);
  const big = pooled(pool, enc({ typeUrl: TYPE_ADDRESS, resourceNamesSubscribe: names('a-', 2500) }));
  const queued = [1, 2, 3].map((i) => pooled(pool, enc({ typeUrl: TYPE_ADDRESS, responseNonce: `n-${i}` })));
  r.pump.push(big.buf, big.lease);
  for (const q of queued) r.pump.push(q.buf, q.lease);
  t.equal(pool.idleBytes, 0, 'everything is still held');
  r.close();
  await r.idle();
  const all = [big, ...queued].reduce((n, p) => n + p.buf.buffer.byteLength, 0);
  t.equal(pool.idleBytes, all, 'all four buffers returned');
});
