import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { RigCluster, type ClusterOptions, type RigEnv } from './cluster';
import { Topology, rigUnavailable } from './netns';
import { REPO_ROOT, findZtunnel } from './ztunnel';

export { RigCluster, RigPod } from './cluster';
export type { PodSpec } from './cluster';

/**
 * The data-plane rig (docs/design/hbone.md, Test rig): clusters of real processes in network namespaces, one
 * unmodified ztunnel per pod. A Rig owns a Topology (namespaces, bridges), a work dir (registries, state,
 * tokens, logs) and a PKI with one root and an intermediate per cluster (certs/Makefile, as istio's
 * tools/certs). close() stops every process and removes the namespaces and, unless kept, the work dir.
 */
export class Rig implements RigEnv {
  readonly clusters = new Map<string, RigCluster>();
  private readonly pkiDir: string;

  private constructor(
    readonly topology: Topology,
    readonly workDir: string,
    readonly logDir: string,
    readonly ztunnelBin: string,
  ) {
    this.pkiDir = path.join(workDir, 'pki');
  }

  /** Why the rig cannot run on this machine (not root, no ztunnel …), or undefined. */
  static unavailable(): string | undefined {
    const why = rigUnavailable();
    if (why) return why;
    const z = findZtunnel();
    return 'skip' in z ? z.skip : undefined;
  }

  static async create(o: { tag: string; owner?: number; signals?: boolean }): Promise<Rig> {
    const z = findZtunnel();
    if ('skip' in z) throw new Error(z.skip);
    const workDir = fs.mkdtempSync(path.join(os.tmpdir(), `ambrig-${o.tag}-`));
    const topology = await Topology.create({ owner: o.owner, signals: o.signals });
    return new Rig(topology, workDir, path.join(workDir, 'logs'), z.bin);
  }

  caDir(cluster: string): string {
    const dir = path.join(this.pkiDir, cluster);
    if (!fs.existsSync(path.join(dir, 'cert-chain.pem'))) {
      // 2048-bit RSA root and intermediates: quick to make; the workload leaves are P-256 either way.
      execFileSync(
        'make',
        [
          '-s',
          '-C',
          path.join(REPO_ROOT, 'certs'),
          `OUT=${this.pkiDir}`,
          'ROOTCA_KEYSZ=2048',
          'INTERMEDIATE_KEYSZ=2048',
          `${cluster}-cacerts`,
        ],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
    }
    return dir;
  }

  async cluster(o: ClusterOptions): Promise<RigCluster> {
    const c = await RigCluster.start(this, o, this.clusters.size + 1);
    this.clusters.set(o.name, c);
    return c;
  }

  /**
   * A namespace on several networks at once: an edge that owns an address on each (an east-west gateway's
   * external leg, say). Returns the namespace name and its address per network.
   */
  async edge(label: string, networks: string[]): Promise<{ ns: string; ips: Record<string, string> }> {
    const t = this.topology;
    const ns = await t.addNetns(t.nsName(label));
    const ips: Record<string, string> = {};
    let i = 0;
    for (const n of networks) {
      await t.bridge(n);
      ips[n] = t.allocate(n);
      await t.attach(ns, n, `eth${i++}`, [ips[n]]);
    }
    return { ns, ips };
  }

  /** Stops everything; the work dir (logs) is kept when `keep` is set, for a failed run. */
  async close(o: { keep?: boolean } = {}): Promise<void> {
    for (const c of [...this.clusters.values()].reverse()) await c.close().catch(() => undefined);
    await this.topology.close();
    if (!o.keep) fs.rmSync(this.workDir, { recursive: true, force: true });
  }
}
