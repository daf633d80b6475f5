import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * Writes a synthetic Kubernetes-shaped registry: W pods behind S services in
 * 10 namespaces, P policies, 100 nodes. Bulk pods go into large files; pods
 * that benchmarks churn live one per file so an edit re-parses little.
 */
export interface MeshShape {
  workloads: number;
  services: number;
  policies: number;
  churnPods?: number;
  namespaces?: number;
}

export const churnFile = (i: number): string => `churn-${i}.yaml`;

export function podYaml(ns: string, name: string, app: string, ip: string, node: string): string {
  return `apiVersion: v1
kind: Pod
metadata: { name: ${name}, namespace: ${ns}, labels: { app: ${app} } }
spec: { nodeName: ${node}, serviceAccountName: ${app}, containers: [{ name: c, ports: [{ containerPort: 8080 }] }] }
status: { phase: Running, podIP: ${ip}, conditions: [{ type: Ready, status: "True" }] }
`;
}

export function ipFor(i: number): string {
  return `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
}

export function writeMesh(
  dir: string,
  shape: MeshShape,
): { churnPod: (i: number, gen: number) => { file: string; yaml: string; uid: string } } {
  fs.mkdirSync(dir, { recursive: true });
  const nss = shape.namespaces ?? 10;
  const docs: string[] = [];
  for (let n = 0; n < nss; n++)
    docs.push(
      `apiVersion: v1\nkind: Namespace\nmetadata: { name: ns-${n}, labels: { istio.io/dataplane-mode: ambient } }\n`,
    );
  for (let n = 0; n < 100; n++)
    docs.push(
      `apiVersion: v1\nkind: Node\n` +
        `metadata: { name: node-${n}, ` +
        `labels: { topology.kubernetes.io/region: r${n % 3}, topology.kubernetes.io/zone: z${n % 9} } }\n`,
    );
  for (let s = 0; s < shape.services; s++) {
    docs.push(
      `apiVersion: v1\nkind: Service\nmetadata: { name: svc-${s}, namespace: ns-${s % nss} }\n` +
        `spec: { clusterIP: 172.${16 + ((s >> 16) & 15)}.${(s >> 8) & 255}.${s & 255}, ` +
        `selector: { app: app-${s} }, ports: [{ name: http, port: 80, targetPort: 8080 }] }\n`,
    );
  }
  for (let p = 0; p < shape.policies; p++) {
    docs.push(
      `apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n` +
        `metadata: { name: pol-${p}, namespace: ns-${p % nss} }\n` +
        `spec: { selector: { matchLabels: { app: app-${p} } }, action: ALLOW, ` +
        `rules: [{ from: [{ source: { namespaces: [ns-${(p + 1) % nss}] } }], ` +
        `to: [{ operation: { ports: ["8080"] } }] }] }\n`,
    );
  }
  fs.writeFileSync(path.join(dir, 'base.yaml'), docs.join('---\n'));
  const chunk = 5000;
  for (let start = 0; start < shape.workloads; start += chunk) {
    const pods: string[] = [];
    for (let i = start; i < Math.min(shape.workloads, start + chunk); i++) {
      const s = i % shape.services;
      pods.push(podYaml(`ns-${s % nss}`, `pod-${i}`, `app-${s}`, ipFor(i + 256), `node-${i % 100}`));
    }
    fs.writeFileSync(path.join(dir, `pods-${start / chunk}.yaml`), pods.join('---\n'));
  }
  const churnPod = (i: number, gen: number): { file: string; yaml: string; uid: string } => {
    const s = i % shape.services;
    const ns = `ns-${s % nss}`;
    const name = `churn-${i}`;
    // Each generation moves the pod to a new IP: a real change for every ztunnel.
    return {
      file: churnFile(i),
      yaml: podYaml(ns, name, `app-${s}`, ipFor(0x200000 + ((i * 251 + gen) % 0xfffff)), `node-${i % 100}`),
      uid: `${ns}/${name}`,
    };
  };
  for (let i = 0; i < (shape.churnPods ?? 0); i++) {
    const c = churnPod(i, 0);
    fs.writeFileSync(path.join(dir, c.file), c.yaml);
  }
  return { churnPod };
}

/** Atomic replace so the file source never reads half a file. */
export function writeAtomic(file: string, text: string): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.tmp`);
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}
