import type { CallerIdentity } from './types';

/**
 * Node metadata keys the daemon or istiod reads as strings (ztunnel sends
 * them as strings: ztunnel src/config.rs builds node metadata). Any other type is refused
 * rather than skipped, so a list or number cannot step around the
 * namespace check.
 */
const STRING_NODE_METADATA = [
  'NAMESPACE',
  'NAME',
  'NODE_NAME',
  'CLUSTER_ID',
  'SERVICE_ACCOUNT',
  'INSTANCE_IPS',
] as const;

export function wrongTypedNodeMetadata(metadata: Readonly<Record<string, unknown>>): string | undefined {
  for (const k of STRING_NODE_METADATA) {
    const v = metadata[k];
    if (v === undefined || typeof v === 'string') continue;
    const what =
      v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v === 'object' ? 'a struct' : `a ${typeof v}`;
    return `node metadata ${k} must be a string, got ${what}`;
  }
  return undefined;
}

/**
 * istiod's xDS authz (pilot/pkg/xds/auth.go): the caller's namespace must equal
 * node metadata NAMESPACE (absent or empty is let through, as istiod does).
 * Returns why the node is refused, or undefined.
 */
export function checkNodeMetadata(
  identity: CallerIdentity,
  metadata: Readonly<Record<string, unknown>>,
): string | undefined {
  const wrong = wrongTypedNodeMetadata(metadata);
  if (wrong) return wrong;
  const ns = metadata['NAMESPACE'];
  if (identity.method === 'insecure') return undefined;
  if (typeof ns === 'string' && ns !== '' && ns !== identity.namespace) {
    return `caller namespace ${identity.namespace} does not match node metadata NAMESPACE ${ns}`;
  }
  return undefined;
}
