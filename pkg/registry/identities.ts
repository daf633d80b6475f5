import type { RegistrySnapshot } from './types';

/** node -> "ns/sa" pairs, built once per snapshot (snapshots are immutable). */
const byNode = new WeakMap<RegistrySnapshot, Map<string, Set<string>>>();

function index(s: RegistrySnapshot): Map<string, Set<string>> {
  let idx = byNode.get(s);
  if (!idx) {
    idx = new Map();
    for (const p of s.pods.values()) {
      if (!p.nodeName) continue;
      let set = idx.get(p.nodeName);
      if (!set) idx.set(p.nodeName, (set = new Set()));
      set.add(`${p.namespace}/${p.serviceAccount}`);
    }
    byNode.set(s, idx);
  }
  return idx;
}

/**
 * SPIFFE ids of the pods scheduled on a node: the identities a node agent
 * (ztunnel) on that node may request certificates for (istiod's
 * impersonation check, security/pkg/server/ca/node_auth.go).
 */
export function identitiesOnNode(snapshot: RegistrySnapshot, nodeName: string, trustDomain: string): Set<string> {
  const out = new Set<string>();
  for (const nsSa of index(snapshot).get(nodeName) ?? []) {
    const [ns, sa] = nsSa.split('/') as [string, string];
    out.add(`spiffe://${trustDomain}/ns/${ns}/sa/${sa}`);
  }
  return out;
}
