import * as crypto from 'node:crypto';
import { redactConfig } from '../config';
import { buildConfigDump, type ZtunnelDump } from './config-dump';
import { normalisePeer, type PeerReport } from './peers';
import type { AdminDaemonView, CertSummaryView, RegistrySnapshotView, StreamStatusView } from './views';

/**
 * Pure builders for every debug document. Field names here are the public
 * contract documented in docs/admin.md; `ambientd check` reads them.
 * Every document is built from whitelisted fields only, so a secret can
 * appear only if someone adds it here on purpose.
 */

type Obj = Record<string, unknown>;
const iso = (ms: number | undefined): string | null =>
  ms === undefined || !Number.isFinite(ms) || ms <= 0 ? null : new Date(ms).toISOString();

function sortedEntries(m: ReadonlyMap<string, unknown>): Obj[] {
  return [...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([key, v]) => ({ key, ...(v as Obj) }));
}

export function registryz(s: RegistrySnapshotView): Obj {
  const services = sortedEntries(s.services);
  const workloads = [...sortedEntries(s.pods), ...sortedEntries(s.workloadEntries)];
  const policies = [...sortedEntries(s.authorizationPolicies), ...sortedEntries(s.peerAuthentications)];
  return {
    version: s.version,
    counts: {
      namespaces: s.namespaces.size,
      services: s.services.size,
      pods: s.pods.size,
      workloadEntries: s.workloadEntries.size,
      nodes: s.nodes.size,
      authorizationPolicies: s.authorizationPolicies.size,
      peerAuthentications: s.peerAuthentications.size,
      gateways: s.gateways.size,
      rejected: s.rejected.length,
    },
    namespaces: sortedEntries(s.namespaces),
    nodes: sortedEntries(s.nodes),
    services,
    workloads,
    policies,
    gateways: sortedEntries(s.gateways),
    rejected: s.rejected.map((r) => ({ kind: r.kind, key: r.key, origin: r.origin ?? null, reason: r.reason })),
  };
}

export function configz(d: AdminDaemonView): Obj {
  return { config: redactConfig(d.cfg), grpcPort: d.grpcPort, startedAt: iso(d.startedAt) };
}

/** Only identity fields that name the caller; never credentials. */
function identityJson(id: unknown): Obj | null {
  if (!id || typeof id !== 'object') return null;
  const o = id as Obj;
  const pick = (k: string): string | null => (typeof o[k] === 'string' ? o[k] : null);
  return {
    spiffeId: pick('spiffeId'),
    method: pick('method'),
    namespace: pick('namespace'),
    serviceAccount: pick('serviceAccount'),
    nodeName: pick('nodeName'),
  };
}

/**
 * ztunnel node ids are `ztunnel~<ip>~<pod>.<ns>~<ns>.svc.<suffix>` (ztunnel src/config.rs); a peer
 * daemon's importer sends `peering~0.0.0.0~peering-<our cluster>.<ns>~...` with its own cluster in
 * Node.cluster (pkg/peering client).
 */
export function clientKind(nodeId: string): 'ztunnel' | 'peer' | 'other' {
  if (nodeId.startsWith('ztunnel~')) return 'ztunnel';
  return nodeId.startsWith('peering~') ? 'peer' : 'other';
}

/**
 * An inbound stream's cluster: Node.cluster, else the CLUSTER_ID metadata
 * (what ztunnel and peer importers send). Self-reported: `identity` is what
 * authenticated the caller.
 */
export function clusterOf(s: StreamStatusView): string | null {
  const meta = s.node?.metadata.CLUSTER_ID;
  return s.node?.cluster || (typeof meta === 'string' && meta ? meta : null);
}

/** The fields /debug/syncz and /debug/connections both show first for an xDS stream. */
function streamHead(s: StreamStatusView) {
  return {
    id: s.id,
    nodeId: s.nodeId,
    kind: clientKind(s.nodeId),
    clusterId: clusterOf(s),
    identity: identityJson(s.identity),
    connectedAt: iso(s.connectedAt),
  };
}

function inSync(s: StreamStatusView): boolean {
  return s.pendingCommits === 0 && !s.pendingWrite && s.types.every((t) => t.lastNonceSent === t.lastNonceAcked);
}

export function syncz(d: AdminDaemonView): Obj {
  const now = d.clock.now();
  const streams = [...d.xds.status()]
    .sort((a, b) => a.connectedAt - b.connectedAt)
    .map((s) => ({
      ...streamHead(s),
      pendingWrite: s.pendingWrite,
      pendingCommits: s.pendingCommits,
      inSync: inSync(s),
      types: s.types.map((t) => ({
        typeUrl: t.typeUrl,
        wildcard: t.wildcard,
        explicitNames: t.explicitNames,
        lastNonceSent: t.lastNonceSent,
        lastNonceAcked: t.lastNonceAcked,
        acked: t.lastNonceSent === t.lastNonceAcked,
        lastSentAt: iso(t.lastSentAt),
        lastAckedAt: iso(t.lastAckedAt),
        lastNack: t.lastNack ? { nonce: t.lastNack.nonce, message: t.lastNack.message, at: iso(t.lastNack.at) } : null,
        responses: t.responses,
        acks: t.acks,
        nacks: t.nacks,
        sentSeq: t.sentSeq,
      })),
    }));
  const sources = (d.sources?.() ?? []).map((h) => ({
    source: h.source,
    healthy: h.healthy,
    synced: h.synced,
    lastFullScanAt: iso(h.lastFullScanAt ?? undefined),
    problems: h.problems.map((p) => ({ path: p.path, code: p.code, reason: p.reason, since: iso(p.since) })),
  }));
  return { now: iso(now), cacheSeq: d.cache.seq, streams, sources };
}

export type ConfigDumpResult =
  { status: 200; body: ZtunnelDump & { ambientd: Obj } } | { status: 400 | 404; body: Obj };

/**
 * What a ztunnel holds, reconstructed from the cache it is served from. For a
 * wildcard subscriber that is the current cache contents once the stream is
 * in sync (every type's last nonce ACKed, no pending commits); until then it
 * is what the ztunnel is converging to. On-demand (non-wildcard) streams are
 * marked complete=false: the per-stream held-name set is not exposed.
 */
export function configDump(d: AdminDaemonView, node: string | undefined): ConfigDumpResult {
  const meta: Obj = { cacheSeq: d.cache.seq, node: node ?? null };
  if (node !== undefined) {
    if (!node) return { status: 400, body: { error: 'node must not be empty' } };
    const matches = d.xds
      .status()
      .filter((s) => s.nodeId === node)
      .sort((a, b) => b.connectedAt - a.connectedAt);
    const s = matches[0];
    if (!s) return { status: 404, body: { error: 'no xDS stream for that node id', node } };
    const wildcard = s.types.length > 0 && s.types.every((t) => t.wildcard);
    Object.assign(meta, {
      streamId: s.id,
      connectedAt: iso(s.connectedAt),
      inSync: inSync(s),
      pendingCommits: s.pendingCommits,
      wildcard,
      complete: wildcard,
    });
  } else {
    Object.assign(meta, { streamId: null, inSync: null, wildcard: true, complete: true });
  }
  return { status: 200, body: { ...buildConfigDump(d.wire, d.cache), ambientd: meta } };
}

export function peers(d: AdminDaemonView): { now: string | null; enabled: boolean; peers: PeerReport[] } {
  const list = d.peering ? d.peering.status().map(normalisePeer) : [];
  list.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { now: iso(d.clock.now()), enabled: d.peering !== undefined, peers: list };
}

function certJson(c: CertSummaryView, now: number): Obj {
  return {
    subject: c.subject,
    serialHex: c.serialHex,
    notBefore: iso(c.notBefore),
    notAfter: iso(c.notAfter),
    fingerprint256: c.fingerprint256,
    expiresInSeconds: Math.floor((c.notAfter - now) / 1000),
  };
}

/** Splits a PEM bundle and summarises each certificate; keys are never read. */
function chainSummary(pem: string, now: number): Obj[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((b) => {
    const x = new crypto.X509Certificate(b);
    return {
      subject: (x.subject ?? '').replace(/\n/g, ', '),
      issuer: (x.issuer ?? '').replace(/\n/g, ', '),
      serialHex: x.serialNumber,
      notBefore: new Date(x.validFrom).toISOString(),
      notAfter: new Date(x.validTo).toISOString(),
      expiresInSeconds: Math.floor((Date.parse(x.validTo) - now) / 1000),
      subjectAltName: x.subjectAltName ?? null,
      fingerprint256: x.fingerprint256,
    };
  });
}

export function certz(d: AdminDaemonView): Obj {
  const now = d.clock.now();
  const i = d.authority.info();
  const material = [i.signingCert, ...i.intermediates, ...i.roots];
  const expiresAt = Math.min(...material.map((c) => c.notAfter));
  const serving = d.serving.current();
  return {
    now: iso(now),
    ca: {
      mode: i.mode,
      source: i.source,
      trustDomain: i.trustDomain,
      signingKey: i.signingKey,
      signingCert: certJson(i.signingCert, now),
      roots: i.roots.map((c) => certJson(c, now)),
      intermediates: i.intermediates.map((c) => certJson(c, now)),
      expiresAt: iso(expiresAt),
      expiresInSeconds: Math.floor((expiresAt - now) / 1000),
      issued: { workloadCertificates: i.issuedTotal, servingCertificates: i.servingIssuedTotal },
    },
    serving: {
      notBefore: iso(serving.notBefore),
      notAfter: iso(serving.notAfter),
      renewAt: iso(d.serving.renewAt?.()),
      chain: chainSummary(serving.certChainPem, now),
    },
  };
}

export function connections(d: AdminDaemonView): Obj {
  const now = d.clock.now();
  const xds = d.xds.status().map((s) => ({
    ...streamHead(s),
    connectedSeconds: Math.max(0, Math.floor((now - s.connectedAt) / 1000)),
    types: s.types.map((t) => t.typeUrl),
  }));
  const outbound = peers(d).peers.map((p) => ({
    peer: p.name,
    address: p.address,
    connected: p.conditions.Connected.status === 'True',
  }));
  // Peers dialling us (their importers): who they say they are, and the identity that authenticated them.
  const inbound = xds
    .filter((c) => c.kind === 'peer')
    .map((c) => ({
      id: c.id,
      clusterId: c.clusterId,
      spiffeId: c.identity?.spiffeId ?? null,
      connectedAt: c.connectedAt,
    }));
  const byKind: Record<string, number> = {};
  for (const c of xds) byKind[c.kind] = (byKind[c.kind] ?? 0) + 1;
  return { now: iso(now), total: xds.length, byKind, xds, peers: outbound, inboundPeers: inbound };
}
