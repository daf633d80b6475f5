// Child process for the `kube` scenario: the registry half of the daemon
// (KubeClient → KubeSource reflectors → LocalRegistry) and nothing else, so
// /proc of this process measures what the Kubernetes source costs.
// Protocol on stdio: prints {"phase":"ready"}; on a "go" line from stdin it
// starts the source and prints {"phase":"synced",...}; exits when stdin closes.
import * as fs from 'node:fs';
import * as readline from 'node:readline';
import { DEFAULT_KINDS, KubeClient, KubeSource } from '../../pkg/kube';
import { systemClock, waitFor } from '../../pkg/lifecycle';
import { createSilentLogger } from '../../pkg/log';
import { LocalRegistry } from '../../pkg/registry';

async function main(): Promise<void> {
  const cfg = JSON.parse(fs.readFileSync(process.argv[2]!, 'utf8')) as {
    server: string;
    ca: string;
    cert: string;
    key: string;
  };
  const api = new KubeClient({
    server: cfg.server,
    ca: fs.readFileSync(cfg.ca),
    cert: fs.readFileSync(cfg.cert),
    key: fs.readFileSync(cfg.key),
    source: 'bench',
  });
  const store = new LocalRegistry({ logger: createSilentLogger(), clock: systemClock });
  const source = new KubeSource({
    api,
    sink: store,
    logger: createSilentLogger(),
    kinds: DEFAULT_KINDS.filter((k) => !k.crd),
    watchCrds: false,
  });
  const say = (o: Record<string, unknown>) => process.stdout.write(JSON.stringify(o) + '\n');
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  say({ phase: 'ready' });
  const rl = readline.createInterface({ input: process.stdin });
  for await (const line of rl) {
    if (line.trim() !== 'go') continue;
    const t0 = performance.now();
    await source.start();
    await waitFor(() => source.synced(), { timeoutMs: 900_000, intervalMs: 5, what: 'synced' });
    const syncMs = performance.now() - t0;
    gc?.();
    const snap = store.snapshot();
    say({
      phase: 'synced',
      syncMs,
      pods: snap.pods.size,
      services: snap.services.size,
      rejected: snap.rejected.length,
      heapUsed: process.memoryUsage().heapUsed,
    });
  }
  await source.close();
  api.close();
}

main().catch((e: unknown) => {
  process.stderr.write(String(e instanceof Error ? e.stack : e) + '\n');
  process.exit(1);
});
