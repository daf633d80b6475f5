import type * as http2 from 'node:http2';
import type * as tls from 'node:tls';
import type { TrustAnchors } from '../auth';
import { TLS13_CIPHERS } from '../transport';

/** ztunnel's HBONE settings (src/proxy/h2/server.rs): 4 MiB stream, 16 MiB connection windows, 1 MiB frames. */
export const STREAM_WINDOW = 4 * 1024 * 1024;
export const CONNECTION_WINDOW = 16 * 1024 * 1024;
const MAX_FRAME = 1024 * 1024;
const MAX_HEADER_LIST = 64 * 1024;

export interface ServingIdentity {
  certChainPem: string;
  keyPem: string;
}

/**
 * TLS 1.3 only, ztunnel's AES-GCM suites and rustls's default key exchange order (docs/design/hbone.md, TLS);
 * every accepted root.
 */
export function tlsOptions(id: ServingIdentity, anchors: TrustAnchors): tls.SecureContextOptions {
  return {
    cert: id.certChainPem,
    key: id.keyPem,
    ca: anchors.unionPem(),
    minVersion: 'TLSv1.3',
    maxVersion: 'TLSv1.3',
    ciphers: TLS13_CIPHERS,
    ecdhCurve: 'X25519:P-256:P-384',
  };
}

/** The HBONE server: client certificate required, ALPN h2 only (no HTTP/1 fallback), bounded handshakes. */
export function serverOptions(
  id: ServingIdentity,
  anchors: TrustAnchors,
  limits: { handshakeTimeout: number; maxConcurrentStreams: number },
): http2.SecureServerOptions {
  return {
    ...tlsOptions(id, anchors),
    requestCert: true,
    rejectUnauthorized: true,
    ALPNProtocols: ['h2'],
    allowHTTP1: false,
    handshakeTimeout: limits.handshakeTimeout,
    unknownProtocolTimeout: limits.handshakeTimeout,
    // Room for a connection window's worth both ways plus headers; beyond it node:http2 refuses new streams.
    maxSessionMemory: Math.ceil((CONNECTION_WINDOW * 2) / (1024 * 1024)) + 16,
    settings: {
      maxConcurrentStreams: limits.maxConcurrentStreams,
      initialWindowSize: STREAM_WINDOW,
      maxFrameSize: MAX_FRAME,
      maxHeaderListSize: MAX_HEADER_LIST,
      enablePush: false,
    },
  };
}
