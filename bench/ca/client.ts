// Load generator for the CA scenario: ztunnel-shaped P-256 CSRs with
// ImpersonatedIdentity over several TLS channels. Reads a JSON config on argv[2];
// prints JSON lines: {"event":"phase-start"|"phase-end", ...} and a final result.
import * as grpc from '@grpc/grpc-js';
import { caServiceClient } from '../../pkg/caserver';
import type { CaRequest, CaResponse } from '../../pkg/caserver';
import { createCsr, createSigner, generateKeyPair } from '../../pkg/x509';

interface Config {
  port: number;
  root: string;
  token: string;
  identities: string[];
  channels: number;
  sustainedConcurrency: number;
  sustainedSeconds: number;
  burstSize: number;
  bursts: number;
  csrs: number;
  /** Requests sent before the first phase (connections, JIT on both sides, token cache); default 4 per channel. */
  warmup?: number;
}

type Client = grpc.Client & {
  CreateCertificate(
    r: CaRequest,
    md: grpc.Metadata,
    o: grpc.CallOptions,
    cb: (e: grpc.ServiceError | null, r?: CaResponse) => void,
  ): void;
};

function emit(o: object): void {
  process.stdout.write(JSON.stringify(o) + '\n');
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function main(): Promise<void> {
  const cfg = JSON.parse(process.argv[2]!) as Config;
  const csrs = Array.from({ length: cfg.csrs }, (_, i) => {
    const { privateKey, publicKey } = generateKeyPair('ec-p256');
    return createCsr({
      publicKey,
      signer: createSigner(privateKey),
      uris: [cfg.identities[i % cfg.identities.length]!],
    });
  });
  const Ctor = caServiceClient();
  const creds = grpc.credentials.createSsl(Buffer.from(cfg.root));
  // One connection per simulated ztunnel (a local subchannel pool stops grpc-js sharing them).
  const clients = Array.from(
    { length: cfg.channels },
    () => new Ctor(`127.0.0.1:${cfg.port}`, creds, { 'grpc.use_local_subchannel_pool': 1 }) as unknown as Client,
  );
  const md = new grpc.Metadata();
  md.set('authorization', `Bearer ${cfg.token}`);
  let seq = 0;
  const one = (): Promise<number> =>
    new Promise((resolve, reject) => {
      const i = seq++;
      const req: CaRequest = {
        csr: csrs[i % csrs.length]!,
        validity_duration: 86400,
        metadata: {
          fields: {
            ImpersonatedIdentity: { stringValue: cfg.identities[i % cfg.identities.length]!, kind: 'stringValue' },
          },
        },
      };
      const t0 = performance.now();
      clients[i % clients.length]!.CreateCertificate(req, md, { deadline: Date.now() + 30_000 }, (e, r) => {
        if (e) reject(e);
        else if (!r || r.cert_chain.length < 2) reject(new Error('short chain'));
        else resolve(performance.now() - t0);
      });
    });

  // Warm-up: connections, JIT, token cache; in waves of sustainedConcurrency.
  for (let left = cfg.warmup ?? cfg.channels * 4; left > 0; left -= cfg.sustainedConcurrency) {
    await Promise.all(Array.from({ length: Math.min(left, cfg.sustainedConcurrency) }, one));
  }

  let errors = 0;
  emit({ event: 'phase-start', phase: 'sustained' });
  const t0 = performance.now();
  const until = t0 + cfg.sustainedSeconds * 1000;
  let done = 0;
  const lat: number[] = [];
  await Promise.all(
    Array.from({ length: cfg.sustainedConcurrency }, async () => {
      while (performance.now() < until) {
        try {
          lat.push(await one());
          done++;
        } catch {
          errors++;
        }
      }
    }),
  );
  const elapsed = (performance.now() - t0) / 1000;
  emit({ event: 'phase-end', phase: 'sustained', done, elapsed });
  lat.sort((a, b) => a - b);
  const sustained = { done, elapsed, rate: done / elapsed, p50: percentile(lat, 50), p99: percentile(lat, 99) };

  const burstLat: number[] = [];
  const burstWall: number[] = [];
  emit({ event: 'phase-start', phase: 'burst' });
  let burstDone = 0;
  const b0 = performance.now();
  for (let b = 0; b < cfg.bursts; b++) {
    const s = performance.now();
    const r = await Promise.allSettled(Array.from({ length: cfg.burstSize }, one));
    burstWall.push(performance.now() - s);
    for (const x of r) {
      if (x.status === 'fulfilled') {
        burstLat.push(x.value);
        burstDone++;
      } else errors++;
    }
  }
  emit({ event: 'phase-end', phase: 'burst', done: burstDone, elapsed: (performance.now() - b0) / 1000 });
  burstLat.sort((a, b) => a - b);
  emit({
    event: 'result',
    sustained,
    burst: {
      size: cfg.burstSize,
      bursts: cfg.bursts,
      p50: percentile(burstLat, 50),
      p99: percentile(burstLat, 99),
      max: burstLat[burstLat.length - 1],
      wallMs: burstWall,
    },
    errors,
  });
  clients.forEach((c) => c.close());
}

main().catch((e: unknown) => {
  process.stderr.write(`bench ca client: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
