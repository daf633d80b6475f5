import type * as tls from 'node:tls';
import { anchoredIn, type TrustAnchors } from '../auth';
import { uriSans } from '../peering';
import { parseSpiffeId } from '../x509';

/**
 * Who is calling, after the TLS layer verified the chain against every
 * accepted root: exactly one SPIFFE URI SAN, of a trust domain with roots
 * here, whose chain anchors in that trust domain's own roots (a peer's root
 * never vouches for our trust domain). As Envoy's and ztunnel's HBONE servers
 * do (docs/design/hbone.md, TLS). `why` is for the log only.
 */
export function authenticateCaller(socket: tls.TLSSocket, anchors: TrustAnchors): { caller: string } | { why: string } {
  if (!socket.authorized) return { why: `not authorized: ${String(socket.authorizationError)}` };
  const cert = socket.getPeerCertificate(true);
  if (!cert?.raw) return { why: 'no client certificate' };
  const uris = uriSans(cert).filter((u) => u.startsWith('spiffe://'));
  if (uris.length !== 1) return { why: `want one SPIFFE URI SAN, got ${uris.length}` };
  let td: string;
  try {
    td = parseSpiffeId(uris[0]!).trustDomain;
  } catch (e) {
    return { why: `bad SPIFFE id ${uris[0]}: ${(e as Error).message}` };
  }
  const set = anchors.anchorsFor(td);
  if (!set) return { why: `trust domain ${td} is not accepted (${uris[0]})` };
  if (!anchoredIn(cert, set)) return { why: `${uris[0]} does not chain to the roots of trust domain ${td}` };
  return { caller: uris[0]! };
}
