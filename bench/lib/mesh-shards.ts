import { SimProc } from './sim-proc';
import { sampleProc, type ProcSample } from './proc';

/**
 * The mesh scenario's virtual peers split over processes of at most `perShard` peers each: a
 * peer costs its simulator a listening socket and a connection, and this machine's hard limit of
 * 20,000 open files per process (not raisable here) is where issue 20's failed N = 10,000 run
 * stopped — 9,980 peers linked. Every shard serves its range on the same port; commands go to all.
 */
export class PeerShards {
  readonly procs: SimProc[] = [];

  constructor(
    file: string,
    private readonly n: number,
    perShard = 4000,
  ) {
    const shards = Math.max(1, Math.ceil(n / perShard));
    for (let s = 0; s < shards; s++) this.procs.push(new SimProc(file, ['--max-old-space-size=4096'], ['peers']));
  }

  /** Starts every shard (the first picks the port); the first sync size is shard 0's. */
  async serve(chain: string, key: string): Promise<{ port: number; firstSyncBytes: number }> {
    await Promise.all(this.procs.map((p) => p.next('ready')));
    const per = Math.ceil(this.n / this.procs.length);
    let port = 0;
    let firstSyncBytes = 0;
    for (let s = 0; s < this.procs.length; s++) {
      const range = { lo: s * per, hi: Math.min(this.n, (s + 1) * per) };
      this.procs[s]!.send({ cmd: 'serve', n: this.n, ...range, port, chain, key });
      const r = await this.procs[s]!.next('serving', 300_000);
      if (s === 0) {
        port = Number(r.port);
        firstSyncBytes = Number(r.firstSyncBytes);
      }
    }
    return { port, firstSyncBytes };
  }

  send(m: Record<string, unknown>): void {
    for (const p of this.procs) p.send(m);
  }

  all(ev: string, timeoutMs?: number): Promise<Record<string, unknown>[]> {
    return Promise.all(this.procs.map((p) => p.next(ev, timeoutMs)));
  }

  /** CPU and RSS of all shards together. */
  sample(): ProcSample {
    const s = this.procs.map((p) => sampleProc(p.pid));
    return { at: s[0]!.at, cpuMs: s.reduce((a, x) => a + x.cpuMs, 0), rssBytes: s.reduce((a, x) => a + x.rssBytes, 0) };
  }

  close(): void {
    for (const p of this.procs) p.close();
  }
}
