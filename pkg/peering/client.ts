import * as grpc from '@grpc/grpc-js';
import * as tls from 'node:tls';
import * as net from 'node:net';
import type protobuf from 'protobufjs';
import type { Logger } from '../log';
import { Backoff, type Clock } from '../lifecycle';
import type { Wire } from '../wire';
import { ADS_DELTA_PATH } from '../xds';
import { TLS13_CIPHERS } from '../transport';
import type { PeerDecl } from './declare';
import { DECODE_OPTS, type PeerPartition } from './partition';
import { validateImported } from './validate';

/** Bounded termination reasons (metric label). */
export const TERMINATION_REASONS = ['server_identity', 'tls', 'unauthenticated', 'permission_denied', 'unavailable', 'server_closed', 'protocol', 'error'] as const;
export type TerminationReason = (typeof TERMINATION_REASONS)[number];

export interface PeerIdentityMaterial {
  certChainPem: string;
  keyPem: string;
  trustBundlePem: string;
}

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
  logger: Logger;
  clock: Clock;
  onChange: () => void;
  onSynced: () => void;
  onStateChange: () => void;
  onTermination: (reason: TerminationReason) => void;
  backoff?: { initialMs: number; maxMs: number };
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
}

/** Extracts URI SANs as Node renders them ("DNS:a, URI:spiffe://..."). */
export function uriSans(cert: { subjectaltname?: string }): string[] {
  return (cert.subjectaltname ?? '').split(', ').filter((s) => s.startsWith('URI:')).map((s) => {
    const v = s.slice(4);
    return v.startsWith('"') ? (JSON.parse(v) as string) : v;
  });
}

function classify(code: number, details: string): TerminationReason {
  if (/peer identity/i.test(details)) return 'server_identity';
  if (code === grpc.status.UNAUTHENTICATED) return 'unauthenticated';
  if (code === grpc.status.PERMISSION_DENIED) return 'permission_denied';
  if (code === grpc.status.OK) return 'server_closed';
  if (/certificate|self.signed|verify|handshake|alert|tls|ssl/i.test(details)) return 'tls';
  if (code === grpc.status.UNAVAILABLE) return 'unavailable';
  if (code === grpc.status.INVALID_ARGUMENT) return 'protocol';
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
  private client?: grpc.Client;
  private call?: grpc.ClientDuplexStream<Buffer, Buffer>;
  private timer?: NodeJS.Timeout;
  private closed = false;
  private readonly backoff: Backoff;
  private awaiting = new Set<string>();
  private readonly log: Logger;

  constructor(private readonly o: PeerClientOptions) {
    this.backoff = new Backoff({ initialMs: o.backoff?.initialMs ?? 200, maxMs: o.backoff?.maxMs ?? 15_000, jitter: 0.3 });
    this.log = o.logger.child({ peer: o.decl.cluster });
  }

  start(): void {
    this.connect();
  }

  private target(): string {
    const { value, type } = this.o.decl.address;
    const host = type === 'IPAddress' && net.isIPv6(value) ? `[${value}]` : value;
    return `${host}:${this.o.decl.xdsPort}`;
  }

  private connect(): void {
    if (this.closed) return;
    this.timer = undefined;
    const id = this.o.identity();
    const expected = this.o.decl.peerSpiffeId;
    const ctx = tls.createSecureContext({
      ca: this.o.rootsFor(this.o.decl.trustDomain), cert: id.certChainPem, key: id.keyPem, minVersion: 'TLSv1.3', ciphers: TLS13_CIPHERS,
    });
    const creds = grpc.credentials.createFromSecureContext(ctx, {
      // The chain is verified against the roots by TLS; the name check is the SPIFFE id, not the dialled host.
      checkServerIdentity: (_host, cert) => {
        const uris = uriSans(cert);
        return uris.length === 1 && uris[0] === expected ? undefined : new Error(`peer identity mismatch: want ${expected}, got ${uris.join(',') || 'no URI SAN'}`);
      },
    });
    this.client?.close();
    this.client = new grpc.Client(this.target(), creds, {
      'grpc.max_receive_message_length': 256 * 1024 * 1024,
      'grpc.keepalive_time_ms': 30_000,
      'grpc.keepalive_timeout_ms': 10_000,
      'grpc.initial_reconnect_backoff_ms': 1000,
      'grpc.max_reconnect_backoff_ms': 15_000,
    });
    const raw = (b: Buffer): Buffer => b;
    const call = this.client.makeBidiStreamRequest(ADS_DELTA_PATH, raw, raw, new grpc.Metadata());
    this.call = call;
    this.state.synced = false;
    this.awaiting = new Set(this.o.types);
    let established = false;
    call.on('metadata', () => {
      established = true;
      this.state.connected = true;
      this.state.connects++;
      this.state.lastConnectedAt = this.o.clock.now();
      this.o.onStateChange();
    });
    call.on('data', (b: Buffer) => {
      if (!established) call.emit('metadata', new grpc.Metadata());
      this.onResponse(b);
    });
    call.on('error', () => undefined); // 'status' carries the outcome
    call.on('status', (s: grpc.StatusObject) => {
      if (this.call !== call) return;
      this.call = undefined;
      this.terminated(classify(s.code, s.details), `${grpc.status[s.code] ?? s.code}: ${s.details}`);
    });
    const ns = this.o.identityNamespace;
    const node = {
      id: `peering~0.0.0.0~peering-${this.o.decl.cluster}.${ns}~${ns}.svc.cluster.local`,
      metadata: { fields: { NAMESPACE: { stringValue: ns }, CLUSTER_ID: { stringValue: this.o.localCluster }, PEERING: { stringValue: 'true' } } },
    };
    for (const t of this.o.types) {
      this.send({ node, typeUrl: t, resourceNamesSubscribe: ['*'], initialResourceVersions: this.o.partition.versions(t) });
    }
  }

  private send(req: Record<string, unknown>): void {
    const w = this.o.wire.DeltaDiscoveryRequest;
    this.call?.write(Buffer.from(w.encode(w.fromObject(req)).finish()));
  }

  private onResponse(b: Buffer): void {
    let resp: { typeUrl: string; nonce: string; removedResources: string[]; resources: { name: string; version: string; resource?: { value: Uint8Array } }[] };
    try {
      resp = this.o.wire.DeltaDiscoveryResponse.decode(b) as unknown as typeof resp;
    } catch (e) {
      this.call?.cancel();
      this.terminated('protocol', `undecodable response: ${(e as Error).message}`);
      return;
    }
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
      this.o.partition.apply(resp.typeUrl, r.name, r.version, r.resource.value, msg);
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
      this.backoff.reset();
      this.o.partition.lastSyncAt = this.o.clock.now();
      this.o.onSynced();
    }
  }

  private nack(typeUrl: string, nonce: string, message: string): void {
    this.state.nacks++;
    this.state.lastNack = message.slice(0, 2000);
    this.log.warn({ typeUrl, rejected: this.state.lastNack }, 'peer sent invalid resources; NACKed, keeping last good copies');
    this.send({ typeUrl, responseNonce: nonce, errorDetail: { code: grpc.status.INVALID_ARGUMENT, message } });
  }

  private terminated(reason: TerminationReason, message: string): void {
    const wasConnected = this.state.connected;
    this.state.connected = false;
    this.state.synced = false;
    this.state.lastTermination = { reason, message: message.slice(0, 500), at: this.o.clock.now() };
    if (this.closed) return;
    this.o.onTermination(reason);
    this.o.onStateChange();
    const delay = this.backoff.next();
    (wasConnected ? this.log.warn.bind(this.log) : this.log.debug.bind(this.log))({ reason, message: this.state.lastTermination.message, retryInMs: delay }, 'peer stream ended; keeping last-known data');
    this.timer = setTimeout(() => this.connect(), delay);
    this.timer.unref?.();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const c = this.call;
    this.call = undefined;
    c?.cancel();
    this.client?.close();
    this.state.connected = false;
  }
}
