import * as grpc from '@grpc/grpc-js';
import * as net from 'node:net';
import type protobuf from 'protobufjs';
import type { Logger } from '../../log';
import { GrpcCode } from '../../errors';
import { Backoff, type Clock } from '../../lifecycle';
import { readDeltaResponse, type Wire } from '../../wire';
import { ADS_DELTA_PATH } from '../../xds';
import type { PeerDecl } from '../core';
import type { Admission } from './admission';
import { PeerCall } from './peer-call';
import type { PeerIdentityMaterial, SecureContexts } from './tls-context';
import { DECODE_OPTS, type PeerPartition, type StringPool } from '../state';
import { validateImported } from '../core';

/** Bounded termination reasons (metric label). */
export const TERMINATION_REASONS = [
  'server_identity',
  'tls',
  'unauthenticated',
  'permission_denied',
  'unavailable',
  'server_closed',
  'protocol',
  'error',
] as const;
export type TerminationReason = (typeof TERMINATION_REASONS)[number];

export type { PeerIdentityMaterial } from './tls-context';

export interface PeerClientOptions {
  decl: PeerDecl;
  partition: PeerPartition;
  /** Type URLs to subscribe (wildcard), in order. */
  types: readonly string[];
  decoders: ReadonlyMap<string, protobuf.Type>;
  wire: Wire;
  localCluster: string;
  /** Namespace of our own identity (node metadata NAMESPACE must match it on the server). */
  identityNamespace: string;
  identity: () => PeerIdentityMaterial;
  /** Roots that may sign the peer's serving certificate, per its trust domain. */
  rootsFor: (trustDomain: string) => string;
  /** Shared TLS contexts: one per (roots, identity) generation across all peers, not one per link. */
  contexts: SecureContexts;
  /** Shared string pool: every peer exporting a service sends the same names (see StringPool). */
  pool: StringPool;
  logger: Logger;
  clock: Clock;
  onChange: () => void;
  onSynced: () => void;
  onStateChange: () => void;
  onTermination: (reason: TerminationReason) => void;
  /**
   * Once per sync of a connection that delivered changes: how old the oldest
   * of them was (ms since its origin stamp). Data caught up at a resync is not
   * a live propagation and never feeds the propagation metric.
   */
  onResyncAge?: (ageMs: number) => void;
  backoff?: { initialMs: number; maxMs: number };
  /** Shared dial admission: a connection attempt waits for a slot, held until its first sync (see Admission). */
  admission?: Admission;
}

export interface PeerClientState {
  connected: boolean;
  /** Initial responses of this connection applied. */
  synced: boolean;
  connects: number;
  lastConnectedAt?: number;
  lastTermination?: { reason: TerminationReason; message: string; at: number };
  nacks: number;
  lastNack?: string;
  /** The gateway endpoint ("address:port") of the current or last dial. */
  endpoint?: string;
}

/** Extracts URI SANs as Node renders them ("DNS:a, URI:spiffe://..."). */
export function uriSans(cert: { subjectaltname?: string }): string[] {
  return (cert.subjectaltname ?? '')
    .split(', ')
    .filter((s) => s.startsWith('URI:'))
    .map((s) => {
      const v = s.slice(4);
      return v.startsWith('"') ? (JSON.parse(v) as string) : v;
    });
}

function classify(code: number, details: string): TerminationReason {
  if (/peer identity/i.test(details)) return 'server_identity';
  if (code === GrpcCode.UNAUTHENTICATED) return 'unauthenticated';
  if (code === GrpcCode.PERMISSION_DENIED) return 'permission_denied';
  if (code === GrpcCode.OK) return 'server_closed';
  if (/certificate|self.signed|verify|handshake|alert|tls|ssl/i.test(details)) return 'tls';
  if (code === GrpcCode.UNAVAILABLE) return 'unavailable';
  if (code === GrpcCode.INVALID_ARGUMENT) return 'protocol';
  return 'error';
}

/**
 * A long-lived importer for one peer: mTLS gRPC (our serving identity as the
 * client cert; the server chain verified against the peer trust domain's roots
 * AND its expected SPIFFE id), a delta-xDS client that validates each resource
 * at the edge (NACK by name, keep last good), and reconnects with jittered
 * exponential backoff capped at 15 s, echoing what it holds in
 * initial_resource_versions so an unchanged peer resends nothing.
 */
export class PeerClient {
  readonly state: PeerClientState = { connected: false, synced: false, connects: 0, nacks: 0 };
  private call?: PeerCall;
  private timer?: NodeJS.Timeout;
  private closed = false;
  private readonly backoff: Backoff;
  private awaiting = new Set<string>();
  /** Which of the peer's xDS endpoints the next dial uses (rotates on every termination: failover). */
  private next = 0;
  /** Earliest origin stamp among the resources of this connection's initial responses. */
  private resyncOrigin?: number;
  private readonly log: Logger;

  constructor(private readonly o: PeerClientOptions) {
    this.backoff = new Backoff({
      initialMs: o.backoff?.initialMs ?? 200,
      maxMs: o.backoff?.maxMs ?? 15_000,
      jitter: 0.3,
    });
    this.log = o.logger.child({ peer: o.decl.cluster });
  }

  start(): void {
    this.connect();
  }

  private connect(): void {
    if (this.closed) return;
    this.timer = undefined;
    if (this.o.admission) this.o.admission.admit(this, () => this.dial());
    else this.dial();
  }

  private dial(): void {
    if (this.closed) return this.o.admission?.release(this);
    const expected = this.o.decl.peerSpiffeId;
    const ep = this.endpoints();
    const {
      address: { value, type },
      xdsPort,
    } = ep[this.next % ep.length]!;
    this.state.endpoint = `${value}:${xdsPort}`;
    let established = false;
    // Headers of a 200 response, or (if a server skips them) the first message, mark the link up.
    const establish = (): void => {
      if (established || this.call !== call) return;
      established = true;
      this.state.connected = true;
      this.state.connects++;
      this.state.lastConnectedAt = this.o.clock.now();
      this.o.onStateChange();
    };
    const call: PeerCall = new PeerCall({
      host: value,
      port: xdsPort,
      path: ADS_DELTA_PATH,
      // SNI carries hostnames only (RFC 6066 section 3); an IP peer gets none. The identity check below is
      // what authenticates.
      sni: type === 'Hostname' && !net.isIP(value) ? value : undefined,
      // Only the peer trust domain's roots may sign its serving chain.
      secureContext: this.o.contexts.get(this.o.rootsFor(this.o.decl.trustDomain), this.o.identity()),
      // The chain is verified against the peer trust domain's roots by TLS; the name check is the SPIFFE id, not the
      // dialled host.
      checkServerIdentity: (cert) => {
        const uris = uriSans(cert);
        return uris.length === 1 && uris[0] === expected
          ? undefined
          : new Error(`peer identity mismatch: want ${expected}, got ${uris.join(',') || 'no URI SAN'}`);
      },
      maxMessageBytes: 256 * 1024 * 1024,
      keepaliveMs: 30_000,
      keepaliveTimeoutMs: 10_000,
      onEstablished: establish,
      onMessage: (b) => {
        if (this.call !== call) return;
        establish();
        this.onResponse(b);
      },
      onEnd: (code, details) => {
        if (this.call !== call) return;
        this.call = undefined;
        this.terminated(classify(code, details), `${grpc.status[code] ?? code}: ${details}`);
      },
    });
    this.call = call;
    this.state.synced = false;
    this.awaiting = new Set(this.o.types);
    this.resyncOrigin = undefined;
    const ns = this.o.identityNamespace;
    // The client name is Solo's `peering-<remote cluster>` (docs/design/peering-model.md); who is dialling is in
    // Node.cluster and CLUSTER_ID, which the serving side shows with the SPIFFE id that authenticated us.
    const local = this.o.localCluster;
    const node = {
      id: `peering~0.0.0.0~peering-${this.o.decl.cluster}.${ns}~${ns}.svc.cluster.local`,
      cluster: local,
      metadata: {
        fields: {
          NAMESPACE: { stringValue: ns },
          CLUSTER_ID: { stringValue: local },
          PEERING: { stringValue: 'true' },
        },
      },
    };
    for (const t of this.o.types) {
      this.send({
        node,
        typeUrl: t,
        resourceNamesSubscribe: ['*'],
        initialResourceVersions: this.o.partition.versions(t),
      });
    }
  }

  /** The peer's distinct xDS endpoints, in declaration order (every gateway passes TLS through to the peer daemon). */
  private endpoints(): { address: { value: string; type: string }; xdsPort: number }[] {
    const seen = new Set<string>();
    const out: { address: { value: string; type: string }; xdsPort: number }[] = [];
    for (const g of this.o.decl.gateways ?? []) {
      const k = `${g.address.value}:${g.xdsPort}`;
      if (!seen.has(k)) {
        seen.add(k);
        out.push(g);
      }
    }
    return out.length ? out : [{ address: this.o.decl.address, xdsPort: this.o.decl.xdsPort }];
  }

  private send(req: Record<string, unknown>): void {
    this.call?.request(this.o.wire, req);
  }

  private onResponse(b: Buffer): void {
    const read = readDeltaResponse(this.o.wire, b);
    if (!read.ok) {
      // Forget the call before cancelling it: its stream cannot be trusted any more.
      const c = this.call;
      this.call = undefined;
      c?.cancel();
      this.terminated('protocol', read.reason);
      return;
    }
    const resp = read.resp;
    const type = this.o.decoders.get(resp.typeUrl);
    if (!type || !this.o.types.includes(resp.typeUrl)) {
      this.nack(resp.typeUrl, resp.nonce, `type ${resp.typeUrl} was not requested`);
      return;
    }
    const rejects: string[] = [];
    const seen = new Set<string>();
    let changed = false;
    for (const r of resp.resources) {
      if (seen.has(r.name)) {
        rejects.push(`${r.name}: duplicate in response`);
        continue;
      }
      seen.add(r.name);
      if (!r.resource) {
        rejects.push(`${r.name}: missing resource body`);
        continue;
      }
      let msg: Record<string, unknown>;
      try {
        msg = type.toObject(type.decode(r.resource.value), DECODE_OPTS);
      } catch (e) {
        rejects.push(`${r.name}: undecodable (${(e as Error).message})`);
        continue;
      }
      const why = validateImported(resp.typeUrl, r.name, msg, { cluster: this.o.decl.cluster });
      if (why) {
        rejects.push(`${r.name}: ${why}`); // last good copy stays
        continue;
      }
      let origin = (msg as { originTimeUnixMs?: number }).originTimeUnixMs;
      if (!this.state.synced) {
        // Part of the (re)sync: its age is the resync's, not a propagation observed live.
        if (typeof origin === 'number' && origin > 0) this.resyncOrigin = Math.min(this.resyncOrigin ?? origin, origin);
        origin = 0;
      }
      const pool = this.o.pool;
      // Names are shared across peers (N peers export the same services) and pooled; versions are
      // content hashes that include the peer's origin stamp, unique per peer, so pooling them only
      // filled the pool (200k entries at 2,000 peers x 100 services) with strings nobody shares.
      this.o.partition.apply(resp.typeUrl, pool.str(r.name), r.version, pool.share(resp.typeUrl, msg), origin);
      this.o.partition.received++;
      changed = true;
    }
    for (const n of resp.removedResources) if (this.o.partition.remove(resp.typeUrl, n)) changed = true;
    if (rejects.length) {
      this.nack(resp.typeUrl, resp.nonce, rejects.join('; '));
    } else {
      this.send({ typeUrl: resp.typeUrl, responseNonce: resp.nonce });
    }
    if (changed) this.o.onChange();
    if (this.awaiting.delete(resp.typeUrl) && this.awaiting.size === 0 && !this.state.synced) {
      this.state.synced = true;
      this.o.admission?.release(this); // its turn is over: the next waiting peer dials
      this.backoff.reset();
      this.o.partition.lastSyncAt = this.o.clock.now();
      if (this.resyncOrigin !== undefined) this.o.onResyncAge?.(Math.max(0, this.o.clock.now() - this.resyncOrigin));
      this.resyncOrigin = undefined;
      this.o.onSynced();
    }
  }

  private nack(typeUrl: string, nonce: string, message: string): void {
    this.state.nacks++;
    this.state.lastNack = message.slice(0, 2000);
    this.log.warn(
      { typeUrl, rejected: this.state.lastNack },
      'peer sent invalid resources; NACKed, keeping last good copies',
    );
    this.send({ typeUrl, responseNonce: nonce, errorDetail: { code: grpc.status.INVALID_ARGUMENT, message } });
  }

  private terminated(reason: TerminationReason, message: string): void {
    this.o.admission?.release(this);
    const wasConnected = this.state.connected;
    this.state.connected = false;
    this.state.synced = false;
    this.state.lastTermination = { reason, message: message.slice(0, 500), at: this.o.clock.now() };
    if (this.closed) return;
    this.next++; // the next dial tries the peer's next gateway
    this.o.onTermination(reason);
    this.o.onStateChange();
    const delay = this.backoff.next();
    (wasConnected ? this.log.warn.bind(this.log) : this.log.debug.bind(this.log))(
      { reason, message: this.state.lastTermination.message, retryInMs: delay },
      'peer stream ended; keeping last-known data',
    );
    this.timer = setTimeout(() => this.connect(), delay);
    this.timer.unref?.();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.o.admission?.release(this);
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const c = this.call;
    this.call = undefined;
    c?.cancel();
    this.state.connected = false;
  }
}
