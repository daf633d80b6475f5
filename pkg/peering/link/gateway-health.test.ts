import t from 'tap';
import { waitFor } from '../../lifecycle';
import { FALL_OF, GatewayHealth, RISE, WINDOW } from './gateway-health';

/** A probe that answers from a script, one outcome per probe, and counts the probes it answered. */
function scripted(outcomes: boolean[]) {
  const s = { answered: 0, probe: async () => outcomes[s.answered++] ?? true };
  return s;
}

t.test(
  'hysteresis: withdrawn at the FALL_OF-th failure within WINDOW, restored after RISE passes in a row',
  async (t) => {
    t.equal(WINDOW, 8);
    t.equal(FALL_OF, 6);
    t.equal(RISE, 3);
    // 5 failures among passes never withdraw; the 6th within the window does.
    const script = [
      true,
      false,
      false,
      true,
      false,
      false,
      false,
      /* 5 failed of 7 */ true,
      false /* 6 of the last 8 */,
      true,
      true,
      false /* 2 passes: not yet */,
      true,
      true,
      true /* 3 in a row: restored */,
      true,
    ];
    const p = scripted(script);
    const changes: { at: number; healthy: boolean }[] = [];
    const h = new GatewayHealth({
      probe: p.probe,
      intervalMs: 2,
      now: () => Date.now(),
      onChange: () => changes.push({ at: p.answered, healthy: h.healthy('g') }),
    });
    t.teardown(() => h.close());
    t.ok(h.healthy('g'), 'unknown gateways count as healthy');
    h.setTargets([{ id: 'g', host: '127.0.0.1', ports: [1] }]);
    t.ok(h.healthy('g'), 'a new gateway starts healthy');
    await waitFor(() => p.answered >= script.length, { timeoutMs: 10_000, what: 'script played' });
    t.same(
      changes,
      [
        { at: 9, healthy: false },
        { at: 15, healthy: true },
      ],
      'one withdrawal, one restore, at the expected probes',
    );
  },
);

t.test('a target removed and re-added starts afresh; one probe per target in flight', async (t) => {
  let inFlight = 0;
  let maxInFlight = 0;
  let release: (() => void) | undefined;
  const h = new GatewayHealth({
    intervalMs: 2,
    now: () => Date.now(),
    onChange: () => undefined,
    probe: () =>
      new Promise((resolve) => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        release = () => {
          inFlight--;
          resolve(true);
        };
      }),
  });
  t.teardown(() => h.close());
  h.setTargets([{ id: 'g', host: '127.0.0.1', ports: [1] }]);
  await waitFor(() => inFlight === 1, { timeoutMs: 5000, what: 'first probe' });
  // Many intervals pass while the probe hangs: still one in flight.
  const until = Date.now() + 50;
  await waitFor(() => Date.now() >= until, { timeoutMs: 1000, intervalMs: 5, what: 'intervals elapsed' });
  t.equal(maxInFlight, 1);
  release!();
  h.setTargets([]);
  t.ok(h.healthy('g'), 'forgotten: unknown again');
});
