import t from 'tap';
import { LogLimiter } from './log-limiter';

t.test('at most n lines per second; the dropped count rides on the next line let through', async (t) => {
  let now = 0;
  const l = new LogLimiter(2, () => now);
  t.same(l.take(), {});
  t.same(l.take(), {});
  t.equal(l.take(), undefined);
  t.equal(l.take(), undefined);
  now = 999;
  t.equal(l.take(), undefined, 'same window');
  now = 1000;
  t.same(l.take(), { suppressed: 3 }, 'new window reports what was dropped');
  t.same(l.take(), {});
});
