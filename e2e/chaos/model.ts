import * as fs from 'node:fs';
import * as path from 'node:path';

/** Deterministic PRNG (mulberry32): the printed seed reproduces the churn and fault schedule. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)]!;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}

/** Exported namespace (solo.io/service-scope: global) and a cluster-local one. */
export const NAMESPACES = { shop: ['web', 'cart', 'api', 'db'], local: ['one', 'two', 'three'] } as const;
export type Ns = keyof typeof NAMESPACES;
const NS_LIST = Object.keys(NAMESPACES) as Ns[];
const POLICY_NAMES = ['p0', 'p1', 'p2', 'p3'];

interface PodSet {
  gen: number;
  ready: boolean[];
}
interface Svc {
  /** 'cluster' keeps a Service in the global namespace local (the service label wins). */
  scope?: 'cluster';
}
interface Policy {
  ns: Ns;
  app?: string;
  action: 'ALLOW' | 'DENY';
  principal: string;
  port: number;
}

/**
 * One daemon's registry as the churn script sees it. Every change rewrites
 * one small file (write-then-rename) in the daemon's registry dir, or removes
 * it, so the final files are the ground truth the oracle reads back.
 */
export class ClusterModel {
  private readonly pods = new Map<string, PodSet>();
  private readonly svcs = new Map<string, Svc>();
  private readonly policies = new Map<string, Policy>();

  constructor(
    readonly index: number,
    readonly registryDir: string,
  ) {}

  /** Static files: namespaces, the local east-west Gateway and istio-remote Gateways for the peers. */
  writeStatic(files: Record<string, string>): void {
    for (const [f, y] of Object.entries(files)) this.write(f, y);
  }

  seed(): void {
    this.setService('shop', 'web', {});
    this.setService('shop', 'cart', {});
    this.setService('local', 'one', {});
    this.setPods('shop', 'web', { gen: 0, ready: [true, true] });
    this.setPods('shop', 'cart', { gen: 0, ready: [true] });
    this.setPods('local', 'one', { gen: 0, ready: [true, false] });
  }

  /** One random churn step; returns its kind (for the report). */
  step(rng: Rng): string {
    const ns = rng.pick(NS_LIST);
    const app = rng.pick(NAMESPACES[ns]);
    const key = `${ns}/${app}`;
    const cur = this.pods.get(key) ?? { gen: 0, ready: [] };
    const r = rng.next();
    if (r < 0.3) {
      const n = rng.int(6);
      this.setPods(ns, app, { gen: cur.gen, ready: Array.from({ length: n }, () => rng.chance(0.8)) });
      return 'pods-scale';
    }
    if (r < 0.45) {
      this.setPods(ns, app, { gen: cur.gen + 1, ready: cur.ready.length ? cur.ready : [true] });
      return 'pods-replace';
    }
    if (r < 0.6) {
      if (!cur.ready.length) return this.step(rng);
      const ready = [...cur.ready];
      const i = rng.int(ready.length);
      ready[i] = !ready[i];
      this.setPods(ns, app, { gen: cur.gen, ready });
      return 'pods-readiness';
    }
    if (r < 0.78) {
      if (this.svcs.has(key) && rng.chance(0.5)) this.setService(ns, app, undefined);
      else this.setService(ns, app, ns === 'shop' && rng.chance(0.25) ? { scope: 'cluster' } : {});
      return 'service';
    }
    const name = rng.pick(POLICY_NAMES);
    if (this.policies.has(name) && rng.chance(0.4)) this.setPolicy(name, undefined);
    else {
      const pns = rng.pick(NS_LIST);
      this.setPolicy(name, {
        ns: pns,
        app: rng.chance(0.6) ? rng.pick(NAMESPACES[pns]) : undefined,
        action: rng.chance(0.7) ? 'ALLOW' : 'DENY',
        principal: `cluster.local/ns/${rng.pick(NS_LIST)}/sa/${rng.pick([...NAMESPACES.shop, ...NAMESPACES.local])}`,
        port: rng.pick([80, 8080, 9090]),
      });
    }
    return 'policy';
  }

  private setPods(ns: Ns, app: string, p: PodSet): void {
    const file = `pods-${ns}-${app}.yaml`;
    this.pods.set(`${ns}/${app}`, p);
    if (!p.ready.length) return void this.remove(file);
    const nsIdx = NS_LIST.indexOf(ns);
    const appIdx = (NAMESPACES[ns] as readonly string[]).indexOf(app);
    const docs = p.ready.map(
      (ready, i) =>
        `apiVersion: v1
kind: Pod
metadata: { name: ${app}-g${p.gen}-${i}, namespace: ${ns}, labels: { app: ${app} } }
spec: { serviceAccountName: ${app}, nodeName: node-${i % 2}, ` +
        `containers: [{ name: c, ports: [{ containerPort: 8080 }] }] }
status: { phase: Running, podIP: 10.${this.index * 10 + nsIdx}.${appIdx}.${i + 1}, ` +
        `conditions: [{ type: Ready, status: "${ready ? 'True' : 'False'}" }] }
`,
    );
    this.write(file, docs.join('---\n'));
  }

  private setService(ns: Ns, app: string, s: Svc | undefined): void {
    const file = `svc-${ns}-${app}.yaml`;
    if (!s) {
      this.svcs.delete(`${ns}/${app}`);
      return void this.remove(file);
    }
    this.svcs.set(`${ns}/${app}`, s);
    const nsIdx = NS_LIST.indexOf(ns);
    const appIdx = (NAMESPACES[ns] as readonly string[]).indexOf(app);
    const labels = s.scope ? { 'solo.io/service-scope': s.scope } : {};
    this.write(
      file,
      `apiVersion: v1
kind: Service
metadata: { name: ${app}, namespace: ${ns}, labels: ${JSON.stringify(labels)} }
spec:
  clusterIP: 10.96.${nsIdx}.${appIdx + 1}
  selector: { app: ${app} }
  ports: [{ name: http, port: 80, targetPort: 8080 }]
`,
    );
  }

  private setPolicy(name: string, p: Policy | undefined): void {
    const file = `authz-${name}.yaml`;
    if (!p) {
      this.policies.delete(name);
      return void this.remove(file);
    }
    this.policies.set(name, p);
    const selector = p.app ? `\n  selector: { matchLabels: { app: ${p.app} } }` : '';
    this.write(
      file,
      `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: ${name}, namespace: ${p.ns} }
spec:${selector}
  action: ${p.action}
  rules:
  - from: [{ source: { principals: ["${p.principal}"] } }]
    to: [{ operation: { ports: ["${p.port}"] } }]
`,
    );
  }

  /** Write-then-rename so the daemon's watcher never reads a half-written file. */
  private write(file: string, yaml: string): void {
    const tmp = path.join(this.registryDir, `.${file}.tmp`);
    fs.writeFileSync(tmp, yaml);
    fs.renameSync(tmp, path.join(this.registryDir, file));
  }

  private remove(file: string): void {
    fs.rmSync(path.join(this.registryDir, file), { force: true });
  }
}

export function namespaceYaml(name: string, labels: Record<string, string> = {}): string {
  return `apiVersion: v1
kind: Namespace
metadata: { name: ${name}, labels: ${JSON.stringify({ 'istio.io/dataplane-mode': 'ambient', ...labels })} }
`;
}
