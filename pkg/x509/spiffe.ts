import { DaemonError, GrpcCode } from '../errors';

/** A parsed workload identity `spiffe://<td>/ns/<ns>/sa/<sa>`. */
export interface SpiffeId {
  uri: string;
  trustDomain: string;
  namespace: string;
  serviceAccount: string;
}

// ztunnel's parser (src/identity/manager.rs) requires exactly these five path
// segments with the literal `ns` and `sa`; we refuse anything else so we never
// sign a certificate ztunnel would then reject.
const SEGMENT = /^[A-Za-z0-9._~!$&'()*+,;=:@%-]+$/;
const TRUST_DOMAIN = /^[a-z0-9._-]+$/;

export function parseSpiffeId(uri: string): SpiffeId {
  const bad = (why: string) =>
    new DaemonError('x509.bad_spiffe_id', GrpcCode.INVALID_ARGUMENT, `invalid SPIFFE id: ${why}`);
  if (typeof uri !== 'string' || uri.length > 2048) throw bad('not a string or too long');
  if (!uri.startsWith('spiffe://')) throw bad('missing spiffe:// scheme');
  const parts = uri.slice('spiffe://'.length).split('/');
  if (parts.length !== 5 || parts[1] !== 'ns' || parts[3] !== 'sa') throw bad('path is not /ns/<ns>/sa/<sa>');
  const [td, , ns, , sa] = parts as [string, string, string, string, string];
  if (!TRUST_DOMAIN.test(td)) throw bad('trust domain');
  if (!SEGMENT.test(ns) || !SEGMENT.test(sa)) throw bad('namespace or service account');
  return { uri, trustDomain: td, namespace: ns, serviceAccount: sa };
}

export function spiffeUri(trustDomain: string, namespace: string, serviceAccount: string): string {
  return parseSpiffeId(`spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`).uri;
}
