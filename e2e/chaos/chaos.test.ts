import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { TYPE_ADDRESS, TYPE_AUTHORIZATION } from '../../pkg/wire';
import { peeringWire } from '../peering/harness';
import { runChaos, FAULT_KINDS } from './chaos';
import { ClusterModel, Rng, namespaceYaml } from './model';
import { truthFromFiles, checkAgainstTruth, compareHeld, type Held } from './oracle';

t.setTimeout(400_000);

// The oracle must be able to fail: each kind of divergence it exists to catch is caught.
t.test('oracle catches lost updates, stale values and ghosts', async (t) => {
  const wire = peeringWire();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ambientd-chaos-oracle-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const truths = ['x', 'y'].map((name, i) => {
    const reg = path.join(dir, name);
    fs.mkdirSync(reg);
    const m = new ClusterModel(i, reg);
    m.writeStatic({
      'ns.yaml': [
        namespaceYaml('istio-system'),
        namespaceYaml('shop', { 'solo.io/service-scope': 'global' }),
        namespaceYaml('local'),
      ].join('---\n'),
    });
    m.seed();
    const rng = new Rng(7 + i);
    for (let k = 0; k < 20; k++) m.step(rng);
    return truthFromFiles(wire, reg, name, `net-${name}`);
  });
  const [x, y] = truths as [NonNullable<(typeof truths)[0]>, NonNullable<(typeof truths)[0]>];
  t.ok(x.addresses.size > 0 && y.exported.size > 0, 'truth has local addresses and exported services');
  // A served state built from the truth itself passes.
  const decode = (s: string): Record<string, unknown> => revive(JSON.parse(s)) as Record<string, unknown>;
  const served = (): Map<string, Map<string, { value: Record<string, unknown> }>> => {
    const addr = new Map<string, { value: Record<string, unknown> }>();
    for (const [k, v] of x.addresses) addr.set(k, { value: decode(v) });
    const gatewayUid = `${y.cluster}/NetworkGateway/istio-gateways/istio-remote-peer-${y.cluster}`;
    addr.set(gatewayUid, { value: { workload: { uid: gatewayUid } } });
    for (const [key, ready] of y.exported) {
      const [ns, name] = key.split('/') as [string, string];
      const cap = ready <= 0 ? 0 : 2 ** Math.floor(Math.log2(ready));
      addr.set(
        `${y.network}/SplitHorizonWorkload/istio-gateways/istio-remote-peer-${y.cluster}` +
          `/${ns}/${name}.${ns}.mesh.internal`,
        { value: { workload: cap ? { capacity: { value: cap } } : { status: 1 } } },
      );
      addr.set(`${ns}/${name}.${ns}.mesh.internal`, {
        value: { service: { hostname: `${name}.${ns}.mesh.internal` } },
      });
    }
    for (const key of x.exported.keys()) {
      const [ns, name] = key.split('/') as [string, string];
      addr.set(`${ns}/${name}.${ns}.mesh.internal`, {
        value: { service: { hostname: `${name}.${ns}.mesh.internal` } },
      });
    }
    const authz = new Map<string, { value: Record<string, unknown> }>();
    for (const [k, v] of x.authorizations) authz.set(k, { value: decode(v) });
    return new Map([
      [TYPE_ADDRESS, addr],
      [TYPE_AUTHORIZATION, authz],
    ]);
  };
  t.same(checkAgainstTruth(x, [y], served()), [], 'the truth itself passes');
  const lost = served();
  const victim = [...x.addresses.keys()][0]!;
  lost.get(TYPE_ADDRESS)!.delete(victim);
  t.match(checkAgainstTruth(x, [y], lost).join('\n'), `lost local address ${victim}`);
  const ghost = served();
  ghost.get(TYPE_ADDRESS)!.set('chaos//Pod/shop/gone', { value: { workload: { uid: 'gone' } } });
  t.match(checkAgainstTruth(x, [y], ghost).join('\n'), 'ghost address chaos//Pod/shop/gone');
  const noGateway = served();
  noGateway.get(TYPE_ADDRESS)!.delete(`${y.cluster}/NetworkGateway/istio-gateways/istio-remote-peer-${y.cluster}`);
  t.match(checkAgainstTruth(x, [y], noGateway).join('\n'), `lost peer gateway ${y.cluster}/NetworkGateway/`);
  const split = [...served().get(TYPE_ADDRESS)!.keys()].find((k) => k.includes('SplitHorizon'))!;
  const cap = served();
  cap.get(TYPE_ADDRESS)!.set(split, { value: { workload: { capacity: { value: 4096 } } } });
  t.match(checkAgainstTruth(x, [y], cap).join('\n'), `imported ${split} capacity 4096`);

  const types = [TYPE_ADDRESS, TYPE_AUTHORIZATION];
  const fresh = served() as Map<string, Held>;
  t.same(compareHeld('z', served(), fresh, types), [], 'equal states compare equal');
  const held = served();
  held.get(TYPE_ADDRESS)!.delete(victim);
  held.get(TYPE_ADDRESS)!.set('ghost', { value: {} });
  const other = [...x.addresses.keys()][1]!;
  held.get(TYPE_ADDRESS)!.set(other, { value: { workload: { uid: 'stale' } } });
  const lines = compareHeld('z', held, fresh, types).join('\n');
  t.match(lines, `Address ${victim} missing (lost update)`);
  t.match(lines, 'Address ghost ghost');
  t.match(lines, `Address ${other} stale (lost update)`);
});

t.test('three peered daemons under churn and faults converge to the ground truth', async (t) => {
  const seed = 20261126;
  const lines: string[] = [];
  const r = await runChaos({ cycles: 30, seed, settleEvery: 0, log: (l) => lines.push(l), settleTimeoutMs: 120_000 });
  t.comment(`seed ${seed}`);
  for (const l of lines) t.comment(l);
  t.equal(r.cycles, 30);
  for (const k of FAULT_KINDS) t.ok(r.faults[k] >= 1, `fault ${k} injected (${r.faults[k]})`);
  t.ok(r.settles >= 1, 'settled and checked');
  t.ok(r.stateFilesChecked >= 6, `state files loaded (${r.stateFilesChecked})`);
  t.same(r.problems, [], 'no mismatch lines');
  t.same(r.leftoverTempFiles, [], 'no temp file from an interrupted peer-state write survives a restart');
  t.equal(r.mismatches, 0, `chaos: ${r.cycles} cycles, ${r.totalFaults} faults, ${r.mismatches} mismatches`);
});

/** JSON.parse of canon() output back to values: "b:<hex>" strings become Buffers again. */
function revive(v: unknown): unknown {
  if (typeof v === 'string' && v.startsWith('b:')) return Buffer.from(v.slice(2), 'hex');
  if (Array.isArray(v)) return v.map(revive);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, revive(x)]));
  return v;
}
