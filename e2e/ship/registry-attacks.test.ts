import t from 'tap';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { TYPE_ADDRESS, TYPE_AUTHORIZATION } from '../../pkg/wire';
import { connectZtunnel, getJson, pod, removals, startAttackDaemon, untilSynced } from './attack-fixture';
import { runAmbientd, unprivileged } from './proc';

// Issue #18 items 1, 2 and 5 against a real daemon process.

const until = async <T>(f: () => Promise<T | undefined>, what: string, timeoutMs = 15_000): Promise<T> => {
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline;) {
    const v = await f();
    if (v !== undefined) return v;
    await new Promise((r) => setImmediate(r));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
};

const problems = async (port: number): Promise<{ path: string; code: string; reason: string }[]> =>
  (await getJson(port, '/debug/syncz')).body.sources?.[0]?.problems ?? [];

t.test('garbage overwrite, symlink escape, duplicates, wrong-type node metadata', async (t) => {
  const outside = fs.mkdtempSync(path.join(os.tmpdir(), 'ambientd-outside-'));
  t.teardown(() => fs.rmSync(outside, { recursive: true, force: true }));
  fs.writeFileSync(path.join(outside, 'evil.yaml'), pod('evil', '10.6.6.6'));
  const pods = Array.from({ length: 4 }, (_, i) => pod(`w${i}`, `10.0.1.${i + 1}`)).join('---\n');
  const d = await startAttackDaemon(t, { files: { 'pods.yaml': pods } });
  const z = await connectZtunnel(t, d);
  await untilSynced(z);
  await z.until(() => z.held(TYPE_ADDRESS).has('c1//Pod/default/w3'), 'pods.yaml served');
  const held = z.held(TYPE_ADDRESS).size;
  const authz = z.held(TYPE_AUTHORIZATION).size;

  await t.test('a file overwritten with random bytes keeps its objects and is reported', async (t) => {
    fs.writeFileSync(path.join(d.registryDir, 'pods.yaml'), randomBytes(64 * 1024));
    // Written in place (not renamed): a read may first catch it half-written ('read'); it settles at 'parse'.
    const parseProblem = async (): Promise<{ reason: string } | undefined> =>
      (await problems(d.debugPort)).find((x) => x.path === 'pods.yaml' && x.code === 'parse');
    const p = await until(parseProblem, 'parse problem reported');
    t.match(p.reason, /not an object|does not parse/);
    // The change after it proves the daemon processed the garbage before we look.
    fs.writeFileSync(path.join(d.registryDir, 'probe.yaml'), pod('probe', '10.0.2.1'));
    await z.until(() => z.held(TYPE_ADDRESS).has('c1//Pod/default/probe'), 'probe served');
    t.same(removals(z), [], 'nothing withdrawn');
    t.equal(z.held(TYPE_ADDRESS).size, held + 1);
    const check = await runAmbientd(['check', `--debug-url=http://127.0.0.1:${d.debugPort}`]);
    t.not(check.exit.code, 0, 'ambientd check fails');
    t.match(check.stdout, /registry sources readable.*pods\.yaml.*last good objects kept/);
    fs.writeFileSync(path.join(d.registryDir, 'pods.yaml'), pods);
    await until(async () => ((await problems(d.debugPort)).length === 0 ? true : undefined), 'healthy again');
  });

  await t.test('a symlink leaving the directory is refused with a reason', async (t) => {
    fs.symlinkSync(path.join(outside, 'evil.yaml'), path.join(d.registryDir, 'evil.yaml'));
    const p = await until(
      async () => (await problems(d.debugPort)).find((x) => x.path === 'evil.yaml'),
      'refusal reported',
    );
    t.match(p, { code: 'symlink', reason: /leaves the registry directory/ });
    fs.writeFileSync(path.join(d.registryDir, 'probe2.yaml'), pod('probe2', '10.0.2.2'));
    await z.until(() => z.held(TYPE_ADDRESS).has('c1//Pod/default/probe2'), 'probe2 served');
    t.notOk(z.held(TYPE_ADDRESS).has('c1//Pod/default/evil'), 'the outside pod is never served');
    fs.rmSync(path.join(d.registryDir, 'evil.yaml'));
  });

  await t.test('the same pod in two files: the first file by name wins, the conflict is in check', async (t) => {
    fs.writeFileSync(path.join(d.registryDir, 'zz-dup.yaml'), pod('w0', '10.9.0.1'));
    const r = await until(async () => {
      const rz = (await getJson(d.debugPort, '/debug/registryz')).body;
      return rz.rejected.find((x: { key: string }) => x.key === 'default/w0');
    }, 'conflict reported');
    t.match(r, {
      kind: 'Pod',
      origin: 'file:zz-dup.yaml',
      reason: /duplicate: also supplied by file:zz-dup.yaml; file:pods.yaml wins/,
    });
    const addr = z.held(TYPE_ADDRESS).get('c1//Pod/default/w0')!.value as { workload?: { addresses?: Buffer[] } };
    t.same([...(addr.workload?.addresses?.[0] ?? [])], [10, 0, 1, 1], 'pods.yaml copy in force');
    const check = await runAmbientd(['check', `--debug-url=http://127.0.0.1:${d.debugPort}`]);
    t.match(check.stdout, /duplicate: also supplied by file:zz-dup\.yaml/);
    t.ok(
      d.p.logs.some((l) => l.msg === 'object supplied by more than one source; the first wins' && l.level === 40),
      'logged at warn',
    );
    fs.rmSync(path.join(d.registryDir, 'zz-dup.yaml'));
  });

  await t.test('node metadata of the wrong type is refused, not skipped', async (t) => {
    for (const NAMESPACE of [42, ['istio-system', 'default']]) {
      const bad = await connectZtunnel(t, d, { podName: 'ztunnel-bad', metadata: { NAMESPACE } });
      await bad.until(() => bad.status, 'stream refused');
      t.equal(bad.status?.code, 7, `PERMISSION_DENIED for NAMESPACE=${JSON.stringify(NAMESPACE)}`);
      t.equal(bad.held(TYPE_ADDRESS).size, 0, 'nothing served');
      bad.close();
    }
    t.ok(
      d.p.logs.some((l) => l.msg === 'xDS node refused' && /NAMESPACE must be a string/.test(String(l.reason))),
      'reason logged',
    );
  });
  t.same(
    removals(z).filter((n) => !/probe|w0/.test(n)),
    [],
    'the connected client lost nothing it had',
  );
  t.equal(z.held(TYPE_AUTHORIZATION).size, authz);
});

t.test('EACCES on a directory and on a file withdraws nothing; reported until readable again', async (t) => {
  const pods = Array.from({ length: 3 }, (_, i) => pod(`s${i}`, `10.0.4.${i + 1}`)).join('---\n');
  // File permissions do not stop root: as root the daemon runs as nobody.
  const d = await startAttackDaemon(t, { files: { 'sub/pods.yaml': pods }, user: unprivileged() });
  const z = await connectZtunnel(t, d);
  await untilSynced(z);
  await z.until(() => z.held(TYPE_ADDRESS).has('c1//Pod/default/s2'), 'sub/pods.yaml served');
  const held = z.held(TYPE_ADDRESS).size;
  const authz = z.held(TYPE_AUTHORIZATION).size;
  const sub = path.join(d.registryDir, 'sub');
  const policy = path.join(d.registryDir, 'policy.yaml');
  fs.chmodSync(sub, 0);
  fs.chmodSync(policy, 0);
  fs.utimesSync(policy, new Date(), new Date()); // a new stamp: the file must be read again
  t.teardown(() => {
    fs.chmodSync(sub, 0o755);
    fs.chmodSync(policy, 0o644);
  });
  const both = await until(async () => {
    const ps = await problems(d.debugPort);
    return ps.some((x) => x.path === 'sub') && ps.some((x) => x.path === 'policy.yaml') ? ps : undefined;
  }, 'both reported');
  t.match(
    both.find((x) => x.path === 'sub'),
    { code: 'dir', reason: /EACCES/ },
  );
  t.match(
    both.find((x) => x.path === 'policy.yaml'),
    { code: 'read', reason: /EACCES/ },
  );
  fs.writeFileSync(path.join(d.registryDir, 'probe.yaml'), pod('probe', '10.0.4.9'));
  await z.until(() => z.held(TYPE_ADDRESS).has('c1//Pod/default/probe'), 'probe served');
  t.same(removals(z), [], 'nothing withdrawn');
  t.equal(z.held(TYPE_ADDRESS).size, held + 1);
  t.equal(z.held(TYPE_AUTHORIZATION).size, authz, 'DENY and STRICT kept');
  const metrics = (await getJson(d.metricsPort, '/metrics')).body as string;
  t.match(metrics, /ambientd_registry_source_healthy\{source="file"\} 0/);
  fs.chmodSync(sub, 0o755);
  fs.chmodSync(policy, 0o644);
  await until(async () => ((await problems(d.debugPort)).length === 0 ? true : undefined), 'healthy again');
  t.same(removals(z), []);
});
