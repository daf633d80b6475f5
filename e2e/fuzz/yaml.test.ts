import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { systemClock } from '../../pkg/lifecycle';
import { createSilentLogger } from '../../pkg/log';
import { findProtoDir } from '../../pkg/wire';
import { LocalRegistry, parseManifest, SNAPSHOT_FIELD, type RegistrySnapshot } from '../../pkg/registry';
import { generateLocal } from '../../pkg/translate';
import { ClusterModel, namespaceYaml } from '../chaos/model';
import { meshFor, canon } from '../chaos/oracle';
import { peeringWire } from '../peering/harness';
import { Rng, mutateText, Outcomes, heapBound, CASE_BOUND_MS } from './mutate';

const SEED = 0x7a31;
const CASES = 10_000;

/** Valid manifests: the translation fixtures (every kind the registry takes) and a churned chaos registry. */
function corpus(): string[] {
  const testdata = path.join(path.dirname(findProtoDir()), 'pkg', 'translate', 'testdata');
  const out = fs
    .readdirSync(testdata)
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => fs.readFileSync(path.join(testdata, f), 'utf8'));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ambientd-fuzz-yaml-'));
  try {
    const m = new ClusterModel(0, dir);
    m.writeStatic({
      'ns.yaml': [namespaceYaml('shop', { 'solo.io/service-scope': 'global' }), namespaceYaml('local')].join('---\n'),
    });
    m.seed();
    const rng = new Rng(SEED);
    for (let i = 0; i < 40; i++) m.step(rng);
    for (const f of fs.readdirSync(dir)) if (f.endsWith('.yaml')) out.push(fs.readFileSync(path.join(dir, f), 'utf8'));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

const keysOf = (s: RegistrySnapshot): Set<string> => {
  const out = new Set<string>();
  for (const [kind, field] of Object.entries(SNAPSHOT_FIELD))
    for (const k of (s[field] as ReadonlyMap<string, unknown>).keys()) out.add(`${kind}|${k}`);
  return out;
};

t.test(
  `YAML manifests: ${CASES} mutated documents through parseManifest, LocalRegistry and generateLocal, seed ${SEED}`,
  async (t) => {
    t.comment(`fuzz seed ${SEED}`);
    const wire = peeringWire();
    const docs = corpus();
    t.ok(docs.length >= 10, `corpus of ${docs.length} valid files`);
    const reg = new LocalRegistry({ logger: createSilentLogger(), clock: systemClock });
    // The base source stays valid throughout; the fuzz source is replaced by each mutant.
    // The base (kept valid, translated every case) is the churned chaos registry; mutants come from every file.
    const base = docs
      .filter((d) => !d.includes('TestMeshContext') && !d.startsWith('#'))
      .flatMap((d, i) => parseManifest(d, `base${i}.yaml`).objects);
    reg.replaceSource('file:base.yaml', base);
    const mesh = meshFor('fuzz', 'net-f');
    const full = (s: RegistrySnapshot): string => {
      const o = generateLocal({ snapshot: s, mesh }).output;
      return canon({
        a: [...o.addresses].map(([k, v]) => [k, Buffer.from(wire.Address.encode(v as never).finish())]),
        z: [...o.authorizations].map(([k, v]) => [k, Buffer.from(wire.Authorization.encode(v as never).finish())]),
      });
    };
    const before = reg.snapshot();
    const baseKeys = keysOf(before);
    const baseOutput = full(before);
    t.ok(baseKeys.size > 10, `${baseKeys.size} base objects`);

    // Mutants are built from one to three documents: small inputs keep 10k YAML parses cheap.
    const single = docs
      .flatMap((d) => d.split(/^---$/m))
      .map((d) => d.trim())
      .filter((d) => /^kind:|\nkind:/.test(d));
    t.ok(single.length > 40, `${single.length} single documents`);
    const rng = new Rng(SEED);
    const out = new Outcomes();
    const unclear: string[] = [];
    const lostGood: string[] = [];
    const heap0 = process.memoryUsage().heapUsed;
    let prev = keysOf(reg.snapshot());
    for (let i = 0; i < CASES; i++) {
      const src = Array.from({ length: 1 + rng.int(3) }, () => rng.pick(single)).join('\n---\n');
      const text = rng.chance(0.9)
        ? mutateText(rng, src, single)
        : mutateText(rng, mutateText(rng, src, single), single);
      const name = rng.chance(0.1) ? 'fuzz.json' : 'fuzz.yaml';
      const t0 = performance.now();
      try {
        const parsed = parseManifest(text, name);
        for (const e of parsed.errors) {
          if (!e.reason || !e.origin) unclear.push(`case ${i}: parse error without reason/origin`);
          out.add(`parse:${e.reason.split(':')[0]}`);
        }
        reg.replaceSource(`file:${name}`, parsed.objects);
        const snap = reg.snapshot();
        const now = keysOf(snap);
        for (const k of baseKeys) if (!now.has(k)) lostGood.push(`case ${i}: base ${k} gone`);
        for (const r of snap.rejected) {
          if (!r.reason) unclear.push(`case ${i}: rejection without reason (${r.kind} ${r.key})`);
          if (r.origin?.startsWith(name))
            out.add(
              `reject:${
                r.reason
                  .replace(/[^a-zA-Z ].*$/, '')
                  .trim()
                  .slice(0, 40) || 'other'
              }`,
            );
          // Last good state kept: a rejected object that was served before is still served.
          if (r.key && prev.has(`${r.kind}|${r.key}`) && !now.has(`${r.kind}|${r.key}`))
            lostGood.push(`case ${i}: rejected ${r.kind} ${r.key} dropped its last good version`);
        }
        // The consumer of the registry must survive whatever was accepted.
        generateLocal({ snapshot: snap, mesh });
        out.add(parsed.objects.length ? 'ingested' : 'no-objects');
      } catch (e) {
        if (unclear.length < 20)
          unclear.push(`case ${i}: threw ${(e as Error)?.constructor?.name}: ${(e as Error)?.message?.slice(0, 200)}`);
      }
      out.time(`case ${i}`, performance.now() - t0);
      // Alternate with removal so both the replace and the withdraw paths run.
      if (rng.chance(0.2)) reg.removeSource(`file:${name}`);
      prev = keysOf(reg.snapshot());
    }
    const heap1 = process.memoryUsage().heapUsed;
    t.comment(`outcomes: ${out.summary().slice(0, 1500)}`);
    t.comment(
      `slowest ${out.maxCaseMs.toFixed(1)} ms (${out.slowest}); ` +
        `heap ${(heap0 / 1e6).toFixed(0)} -> ${(heap1 / 1e6).toFixed(0)} MB`,
    );
    t.same(unclear, [], 'nothing thrown; every parse error and rejection carries a reason');
    t.same(lostGood.slice(0, 20), [], 'base objects and last good versions are kept');
    t.ok(
      [...out.counts.keys()].some((k) => k.startsWith('parse:')),
      'parse errors seen',
    );
    t.ok(
      [...out.counts.keys()].some((k) => k.startsWith('reject:')),
      'rejections seen',
    );
    t.ok(out.maxCaseMs < CASE_BOUND_MS, 'no case hung');
    t.ok(heap1 < heapBound(heap0), 'heap bounded');
    // Correct state afterwards: with the fuzz sources withdrawn the registry translates exactly as before.
    reg.removeSource('file:fuzz.yaml');
    reg.removeSource('file:fuzz.json');
    const after = reg.snapshot();
    t.same([...keysOf(after)].sort(), [...baseKeys].sort(), 'same objects as before the run');
    t.equal(full(after), baseOutput, 'same translated output as before the run');
  },
);
