// Scenario `gateways`: a peer reached through two gateways (two istio-remote
// Gateways for one cluster). One gateway's listener is stopped and restarted,
// round after round, while every health probe independently fails with 10 %
// probability; a simulated ztunnel on the importing daemon records when the
// failed gateway's endpoint leaves and comes back. Then both stay up for a
// while under the same probe loss, and every withdrawal there is a flap.
//
// The two daemons run in this process (as in e2e/peering): the figures are
// times on the data path (probe -> merge -> push -> ztunnel receipt), not CPU or
// memory, and the probe loss is injected where a probe's outcome is decided
// (PeeringTuning.probe wraps the real TCP probe), which needs the layer in-process.
import { tcpProbe, PROBE_INTERVAL_MS, FALL_OF, RISE, WINDOW, type Probe } from '../../pkg/peering';
import { FakeGateway, makePki, startCluster, ns, service, pods, remote, held, until } from '../../e2e/peering/harness';
import type { ZtunnelClient } from '../../e2e/harness/ztunnel-client';
import type { Figure, ScenarioResult } from '../lib/types';

const SPLIT = (gw: string): string => `net-a/SplitHorizonWorkload/istio-gateways/${gw}/shop/web.shop.mesh.internal`;
const GW1 = 'istio-remote-peer-cluster-a';
const GW2 = 'istio-remote-peer-cluster-a-2';
const LOSS = 0.1;
const ms3 = (x: number): number => Number(x.toFixed(3));

/** mulberry32: a seeded PRNG, so a run's probe losses can be replayed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]! : NaN;
};

export async function run(o: { mode: 'quick' | 'full' }): Promise<ScenarioResult> {
  const rounds = o.mode === 'full' ? 10 : 4;
  const steadyMs = o.mode === 'full' ? 300_000 : 60_000;
  const random = rng(21);
  const stats = { probes: 0, injected: 0 };
  const lossy: Probe = async (host, ports, timeoutMs) => {
    stats.probes++;
    const ok = await tcpProbe(host, ports, timeoutMs);
    if (ok && random() < LOSS) {
      stats.injected++;
      return false;
    }
    return ok;
  };
  const pki = makePki(['cluster-a', 'cluster-b']);
  const g1 = new FakeGateway();
  const g2 = new FakeGateway();
  const close: (() => Promise<void> | void)[] = [() => pki.cleanup(), () => g1.stop(), () => g2.stop()];
  try {
    await g1.start();
    await g2.start();
    const a = await startCluster({
      name: 'cluster-a',
      network: 'net-a',
      pki: pki.dir,
      files: {
        'ns.yaml': ns('shop', { 'solo.io/service-scope': 'global' }),
        'svc.yaml': service('web', 'shop'),
        'pods.yaml': pods('web', 'shop', 4, '10.1'),
      },
    });
    close.unshift(() => a.close());
    // The shipped probe interval and thresholds; only the loss is added.
    const b = await startCluster({
      name: 'cluster-b',
      network: 'net-b',
      pki: pki.dir,
      tuning: { probe: lossy },
      files: {
        'ns.yaml': ns('shop'),
        'gw1.yaml': remote({ cluster: 'cluster-a', network: 'net-a', port: a.port, hbone: g1.port }),
        'gw2.yaml': remote({ name: GW2, cluster: 'cluster-a', network: 'net-a', port: a.port, hbone: g2.port }),
      },
    });
    close.unshift(() => b.close());
    const z: ZtunnelClient = b.ztunnel();
    z.connect();
    await until('both gateway endpoints at the ztunnel', () => held(z, SPLIT(GW1)) && held(z, SPLIT(GW2)), 30_000);

    // Every removal of a gateway endpoint the ztunnel receives, with its time.
    const removals: { name: string; at: number }[] = [];
    z.on('response', (r: { removed: string[] }) => {
      for (const n of r.removed) {
        if (n === SPLIT(GW1) || n === SPLIT(GW2)) removals.push({ name: n, at: performance.now() });
      }
    });

    const withdraw: number[] = [];
    const restore: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const t0 = performance.now();
      await g2.stop();
      await until(`round ${i}: gateway 2 withdrawn`, () => !held(z, SPLIT(GW2)), 30_000);
      withdraw.push((performance.now() - t0) / 1000);
      const t1 = performance.now();
      await g2.start();
      await until(`round ${i}: gateway 2 restored`, () => held(z, SPLIT(GW2)), 30_000);
      restore.push((performance.now() - t1) / 1000);
    }

    // Both up under 10 % probe loss: any withdrawal now is a flap.
    const probesBefore = stats.probes;
    const injectedBefore = stats.injected;
    const since = performance.now();
    await new Promise((r) => setTimeout(r, steadyMs)); // the observation window itself, not a synchronisation
    const flaps = removals.filter((x) => x.at >= since).length;
    const steadyProbes = stats.probes - probesBefore;
    const steadyInjected = stats.injected - injectedBefore;

    const figures: Figure[] = [
      { name: 'withdraw_max', value: Math.max(...withdraw), unit: 's', target: { op: '<=', value: 5 } },
      { name: 'withdraw_p50', value: pct(withdraw, 50), unit: 's' },
      { name: 'restore_max', value: Math.max(...restore), unit: 's', target: { op: '<=', value: 5 } },
      { name: 'restore_p50', value: pct(restore, 50), unit: 's' },
      { name: 'flaps_under_10pct_probe_loss', value: flaps, unit: 'withdrawals', target: { op: '<=', value: 0 } },
      { name: 'steady_probes', value: steadyProbes, unit: 'probes' },
      { name: 'steady_probe_loss', value: steadyProbes ? steadyInjected / steadyProbes : 0, unit: 'fraction' },
    ];
    return {
      scenario: 'gateways',
      params: {
        rounds,
        steadyMs,
        probeLoss: LOSS,
        probeIntervalMs: PROBE_INTERVAL_MS,
        window: WINDOW,
        fallOf: FALL_OF,
        rise: RISE,
        withdrawSeconds: withdraw.map(ms3),
        restoreSeconds: restore.map(ms3),
      },
      figures,
      notes: [
        "failure = the gateway's listener closed; withdrawn/restored = the simulated ztunnel no longer holds / " +
          'holds its endpoint again',
        `every probe outcome independently lost with p=${LOSS} (injected on top of the real TCP probe, seeded PRNG)`,
      ],
    };
  } finally {
    for (const c of close) await c();
  }
}
