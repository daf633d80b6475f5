import t from 'tap';
import { ReceiveBudget } from './receive-budget';

t.test('reservations are granted in arrival order and never exceed the total', (t) => {
  const b = new ReceiveBudget(100, 10);
  const granted: string[] = [];
  t.ok(
    b.reserve(60, () => granted.push('x')),
    'fits: granted at once',
  );
  t.notOk(
    b.reserve(50, () => granted.push('big')),
    'does not fit: queued',
  );
  t.notOk(
    b.reserve(20, () => granted.push('small')),
    'would fit, but waits behind the earlier request',
  );
  t.equal(b.queued, 2);
  b.release(60);
  t.same(granted, ['big', 'small'], 'both admitted, in order');
  t.equal(b.inUse, 70);
  b.release(50);
  b.release(20);
  t.equal(b.inUse, 0);
  t.end();
});

t.test('a cancelled waiter leaves the queue and unblocks those behind it', (t) => {
  const b = new ReceiveBudget(100);
  const granted: string[] = [];
  t.ok(b.reserve(90, () => undefined));
  const big = (): void => void granted.push('big');
  t.notOk(b.reserve(100, big));
  t.notOk(b.reserve(5, () => granted.push('small')));
  b.cancel(big);
  t.same(granted, ['small'], 'the small one fits next to the holder once the head is gone');
  t.equal(b.queued, 0);
  t.equal(b.inUse, 95);
  t.end();
});

t.test('a request larger than the total is clamped (it can always be admitted alone)', (t) => {
  const b = new ReceiveBudget(100);
  let ok = false;
  t.ok(b.reserve(500, () => undefined));
  t.equal(b.inUse, 100);
  t.notOk(b.reserve(1, () => (ok = true)));
  b.release(500);
  t.ok(ok);
  t.end();
});
