/**
 * CPU one bearer-token verification costs (TokenAuthenticator.verify with the
 * verified-token cache off, so every call checks the signature and claims; and,
 * for comparison, a hit in that cache),
 * for RS256 (RSA-2048) and ES256 (P-256), next to the floor in the same run:
 * node:crypto's verify of the same signature alone, nothing else. With
 * `--baseline <dir>` (a pkg/auth build of another commit, e.g. the hand-written
 * verifier before jose) that implementation runs in the same rounds,
 * interleaved. Figures: CPU µs (user + system) per verify, min and median over
 * the rounds; the load average goes in the result.
 *
 *   node dist/bench/jwt-cost.js [--verifies 2000] [--rounds 5] [--baseline DIR]
 *     → bench/results/jwt-cost.json
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import * as auth from '../pkg/auth';

type AuthModule = Pick<typeof auth, 'StaticKeySet' | 'TokenAuthenticator'>;
type Alg = 'RS256' | 'ES256';

const ISS = 'https://kubernetes.default.svc.cluster.local';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
}

const cpuUs = (): number => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

interface Subject {
  name: string;
  alg: Alg;
  /** One verification; resolves when done. */
  once(): Promise<unknown>;
}

function keyPair(alg: Alg): crypto.KeyPairKeyObjectResult {
  return alg === 'RS256'
    ? crypto.generateKeyPairSync('rsa', { modulusLength: 2048 })
    : crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
}

function subjects(alg: Alg, impls: Array<[string, AuthModule]>): Subject[] {
  const pair = keyPair(alg);
  const now = Math.floor(Date.now() / 1000);
  // A Kubernetes service-account token's shape (what ztunnel presents).
  const claims = {
    iss: ISS,
    aud: ['istio-ca'],
    sub: 'system:serviceaccount:istio-system:ztunnel',
    iat: now,
    nbf: now - 1,
    exp: now + 3600,
    'kubernetes.io': { namespace: 'istio-system', pod: { name: 'ztunnel-abc', uid: 'u1' }, node: { name: 'node-a' } },
  };
  const token = auth.signJwt({ alg, kid: 'k1', typ: 'JWT' }, claims, pair.privateKey);
  const jwk = { ...pair.publicKey.export({ format: 'jwk' }), kid: 'k1', alg, use: 'sig' };
  const out: Subject[] = impls.flatMap(([name, m]) => {
    const keys = new m.StaticKeySet({ keys: [jwk] });
    const issuers = [{ issuer: ISS, keys, method: 'jwt' as const }];
    const a = new m.TokenAuthenticator({ issuers, trustDomain: 'cluster.local', cacheSize: 0 });
    // What a ztunnel's repeated token costs: a hit in the verified-token cache (token-cache.ts).
    const cached = new m.TokenAuthenticator({ issuers, trustDomain: 'cluster.local' });
    return [
      { name, alg, once: () => a.verify(token) },
      { name: `${name}_cache_hit`, alg, once: () => cached.verify(token) },
    ];
  });
  // The floor: the signature check alone, synchronous, key already imported.
  const [h, p, s] = token.split('.') as [string, string, string];
  const input = Buffer.from(`${h}.${p}`, 'ascii');
  const sig = Buffer.from(s, 'base64url');
  const key = alg === 'ES256' ? { key: pair.publicKey, dsaEncoding: 'ieee-p1363' as const } : pair.publicKey;
  out.push({
    name: 'floor_crypto_verify',
    alg,
    once: async () => {
      if (!crypto.verify('sha256', input, key, sig)) throw new Error('floor: signature did not verify');
    },
  });
  return out;
}

async function cpuPerVerify(s: Subject, n: number): Promise<number> {
  const c0 = cpuUs();
  for (let i = 0; i < n; i++) await s.once();
  return (cpuUs() - c0) / n;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const verifies = Number(arg('verifies') ?? 2000);
  const rounds = Number(arg('rounds') ?? 5);
  const impls: Array<[string, AuthModule]> = [['current', auth]];
  const base = arg('baseline');
  // A build chosen at run time, hence a require (Node's createRequire) rather than an import.
  const load = createRequire(__filename);
  if (base) impls.push(['baseline', load(path.resolve(base, 'pkg/auth/index.js')) as AuthModule]);
  const all = [...subjects('RS256', impls), ...subjects('ES256', impls)];
  for (const s of all) await cpuPerVerify(s, Math.min(200, verifies)); // warm-up (JIT, key import)
  const samples = new Map<Subject, number[]>(all.map((s) => [s, []]));
  for (let r = 0; r < rounds; r++) {
    // Interleaved: every subject once per round, order rotated, so drifting load hits all alike.
    for (let k = 0; k < all.length; k++) {
      const s = all[(k + r) % all.length]!;
      samples.get(s)!.push(await cpuPerVerify(s, verifies));
    }
  }
  const figures: Record<string, { unit: string; min: number; median: number; samples: number[] }> = {};
  for (const [s, xs] of samples) {
    const round1 = (x: number): number => Math.round(x * 10) / 10;
    figures[`${s.alg}_${s.name}_cpu_per_verify`] = {
      unit: 'µs',
      min: round1(Math.min(...xs)),
      median: round1(median(xs)),
      samples: xs.map(round1),
    };
  }
  for (const alg of ['RS256', 'ES256'] as const) {
    const get = (n: string): number | undefined => figures[`${alg}_${n}_cpu_per_verify`]?.median;
    const cur = get('current')!;
    const b = get('baseline');
    const floor = get('floor_crypto_verify')!;
    console.log(
      `${alg}: current ${cur} µs/verify, floor ${floor} µs (×${(cur / floor).toFixed(2)})` +
        (b === undefined ? '' : `, baseline ${b} µs (current/baseline ×${(cur / b).toFixed(2)})`) +
        `; cache hit ${get('current_cache_hit')} µs` +
        (b === undefined ? '' : ` (baseline ${get('baseline_cache_hit')})`),
    );
  }
  const result = {
    scenario: 'jwt-cost',
    parameters: { verifies, rounds, baseline: base ?? null },
    machine: {
      cores: os.cpus().length,
      cpuModel: os.cpus()[0]?.model,
      node: process.version,
      loadAverage: os.loadavg(),
    },
    figures,
  };
  const out = path.join(__dirname, '..', '..', 'bench', 'results', 'jwt-cost.json');
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
  console.log(
    `load average ${os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')} → ${out}`,
  );
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
