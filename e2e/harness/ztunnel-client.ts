import * as grpc from '@grpc/grpc-js';
import * as tls from 'node:tls';
import { EventEmitter } from 'node:events';
import protobuf from 'protobufjs';
import { TYPE_ADDRESS, TYPE_AUTHORIZATION, type Wire } from '../../pkg/wire';
import { ADS_DELTA_PATH } from '../../pkg/xds';
import { TLS13_CIPHERS } from '../../pkg/transport';
import { waitFor } from '../../pkg/lifecycle';

/**
 * A TypeScript delta-xDS client that behaves like ztunnel's (src/xds/client.rs,
 * src/config.rs): node id `ztunnel~ip~pod.ns~ns.svc.cluster.local`,
 * initial Address then Authorization requests each with node, ACK per response,
 * NACK with error_detail code 0, state kept across reconnects and echoed in
 * initial_resource_versions, on-demand keys, bearer token + clusterid headers.
 */
export interface ZtunnelClientOptions {
  wire: Wire;
  address: string; // host:port
  rootCaPem: string;
  serverName?: string;
  token?: string;
  clusterId?: string;
  podName?: string;
  podNamespace?: string;
  instanceIp?: string;
  nodeName?: string;
  onDemand?: boolean;
  /** Return a reason to reject (NACK) a decoded resource, as ztunnel's validation would. */
  validate?: (typeUrl: string, name: string, value: Record<string, unknown>) => string | undefined;
  /** When false, the caller ACKs explicitly with ack(). */
  autoAck?: boolean;
  /** Client cert for mTLS callers (peers, renewals). */
  clientCertPem?: string;
  clientKeyPem?: string;
  /**
   * HTTP/2 PING interval while a stream is open, and how long to wait for its ACK (default 30 s / 10 s, as
   * ztunnel).
   */
  keepaliveMs?: number;
  keepaliveTimeoutMs?: number;
  /** Extra types to subscribe (wildcard) after Address and Authorization; or replace them. */
  types?: readonly string[];
  /** Node metadata entries added or replaced as JS values (numbers, lists: malformed-client tests). */
  metadata?: Record<string, unknown>;
}

export interface HeldResource {
  version: string;
  value: Record<string, unknown>;
}

export interface ReceivedResponse {
  typeUrl: string;
  nonce: string;
  names: string[];
  removed: string[];
  at: number;
}

export class ZtunnelClient extends EventEmitter {
  readonly state = new Map<string, Map<string, HeldResource>>();
  readonly received: ReceivedResponse[] = [];
  private client: grpc.Client;
  private call?: grpc.ClientDuplexStream<Buffer, Buffer>;
  status?: { code: number; details: string };
  private openedAt?: number;
  acked = new Map<string, number>();
  private readonly decoders = new Map<string, protobuf.Type>();

  constructor(private readonly o: ZtunnelClientOptions) {
    super();
    const ctx = tls.createSecureContext({
      ca: o.rootCaPem,
      cert: o.clientCertPem,
      key: o.clientKeyPem,
      minVersion: 'TLSv1.3',
      ciphers: TLS13_CIPHERS,
    });
    const creds = grpc.credentials.createFromSecureContext(ctx);
    // ztunnel's channel: 200 MiB receive limit, and an HTTP/2 PING every 30 s with a 10 s timeout
    // (ztunnel src/tls/control.rs). The PING is what ends a stream whose connection died without a
    // close ever reaching this process (seen in e2e/chaos after a kill -9 of the daemon).
    const opts: grpc.ChannelOptions = {
      'grpc.max_receive_message_length': 200 * 1024 * 1024,
      'grpc.keepalive_time_ms': o.keepaliveMs ?? 30_000,
      'grpc.keepalive_timeout_ms': o.keepaliveTimeoutMs ?? 10_000,
    };
    if (o.serverName) opts['grpc.ssl_target_name_override'] = o.serverName;
    this.client = new grpc.Client(o.address, creds, opts);
    this.decoders.set(TYPE_ADDRESS, o.wire.Address);
    this.decoders.set(TYPE_AUTHORIZATION, o.wire.Authorization);
  }

  get types(): readonly string[] {
    return this.o.types ?? [TYPE_ADDRESS, TYPE_AUTHORIZATION];
  }

  get nodeId(): string {
    const ns = this.o.podNamespace ?? 'istio-system';
    return (
      `ztunnel~${this.o.instanceIp ?? '1.1.1.1'}~${this.o.podName ?? 'ztunnel-test'}.${ns}` + `~${ns}.svc.cluster.local`
    );
  }

  held(typeUrl: string): Map<string, HeldResource> {
    let m = this.state.get(typeUrl);
    if (!m) this.state.set(typeUrl, (m = new Map<string, HeldResource>()));
    return m;
  }

  /** Opens a stream and sends the initial requests (with held versions, as after a reconnect). */
  connect(): void {
    const md = new grpc.Metadata();
    if (this.o.token) {
      md.set('authorization', `Bearer ${this.o.token}`);
      md.set('clusterid', this.o.clusterId ?? 'Kubernetes');
    }
    this.status = undefined;
    this.openedAt = performance.now();
    const raw = (b: Buffer): Buffer => b;
    const call = this.client.makeBidiStreamRequest(ADS_DELTA_PATH, raw, raw, md);
    this.call = call;
    call.on('data', (b: Buffer) => this.onResponse(b));
    call.on('status', (s: grpc.StatusObject) => {
      if (this.call === call) this.status = { code: s.code, details: s.details };
      this.emit('status', s);
    });
    call.on('error', () => undefined); // status carries the outcome
    const ns = this.o.podNamespace ?? 'istio-system';
    const metadata = {
      NAME: this.o.podName ?? 'ztunnel-test',
      NAMESPACE: ns,
      INSTANCE_IPS: this.o.instanceIp ?? '1.1.1.1',
      NODE_NAME: this.o.nodeName ?? '',
      ...this.o.metadata,
    };
    for (const t of this.types) {
      const irv: Record<string, string> = {};
      for (const [n, h] of this.held(t)) irv[n] = h.version;
      const onDemand = this.o.onDemand && t === TYPE_ADDRESS;
      this.send({
        node: { id: this.nodeId, metadata: toStruct(metadata) },
        typeUrl: t,
        resourceNamesSubscribe: onDemand ? ['*'] : [],
        resourceNamesUnsubscribe: onDemand ? ['*'] : [],
        initialResourceVersions: irv,
      });
    }
  }

  /** Sends a raw request object (protobufjs form). */
  send(req: Record<string, unknown>): void {
    const w = this.o.wire.DeltaDiscoveryRequest;
    this.call?.write(Buffer.from(w.encode(w.fromObject(req)).finish()));
  }

  sendBytes(b: Buffer): void {
    this.call?.write(b);
  }

  /** On-demand lookup: `network/ip`, `ns/hostname` or a uid (no node, no nonce). */
  demand(key: string, typeUrl = TYPE_ADDRESS): void {
    this.send({ typeUrl, resourceNamesSubscribe: [key] });
  }

  ack(typeUrl: string, nonce: string): void {
    this.send({ typeUrl, responseNonce: nonce });
    this.acked.set(typeUrl, (this.acked.get(typeUrl) ?? 0) + 1);
  }

  nack(typeUrl: string, nonce: string, message: string): void {
    // ztunnel leaves code at 0 and lists `<name>: <reason>` in message.
    this.send({ typeUrl, responseNonce: nonce, errorDetail: { code: 0, message } });
  }

  private onResponse(b: Buffer): void {
    const resp = this.o.wire.DeltaDiscoveryResponse.decode(b) as unknown as {
      typeUrl: string;
      nonce: string;
      removedResources: string[];
      resources: { name: string; version: string; resource?: { typeUrl: string; value: Uint8Array } }[];
    };
    const dec =
      this.decoders.get(resp.typeUrl) ??
      (resp.typeUrl.startsWith('type.googleapis.com/') ? this.lookup(resp.typeUrl) : undefined);
    const held = this.held(resp.typeUrl);
    const rejects: string[] = [];
    const seen = new Set<string>();
    for (const r of resp.resources) {
      if (seen.has(r.name)) rejects.push(`${r.name}: duplicate in response`);
      seen.add(r.name);
      if (!r.resource || !dec) {
        rejects.push(`${r.name}: missing resource`);
        continue;
      }
      let value: Record<string, unknown>;
      try {
        value = dec.toObject(dec.decode(r.resource.value), {
          longs: Number,
          enums: Number,
          bytes: Buffer,
          defaults: false,
          oneofs: true,
        });
      } catch (e) {
        rejects.push(`${r.name}: ${(e as Error).message}`);
        continue;
      }
      const why = this.o.validate?.(resp.typeUrl, r.name, value);
      if (why) {
        // Rejected resources are kept out of known state so a reconnect re-requests them.
        held.delete(r.name);
        rejects.push(`${r.name}: ${why}`);
        continue;
      }
      held.set(r.name, { version: r.version, value });
    }
    for (const n of resp.removedResources) held.delete(n);
    const rec: ReceivedResponse = {
      typeUrl: resp.typeUrl,
      nonce: resp.nonce,
      names: resp.resources.map((r) => r.name),
      removed: resp.removedResources,
      at: performance.now(),
    };
    this.received.push(rec);
    if (this.o.autoAck !== false) {
      if (rejects.length) this.nack(resp.typeUrl, resp.nonce, rejects.join('; '));
      else this.ack(resp.typeUrl, resp.nonce);
    }
    this.emit('response', rec);
  }

  private lookup(typeUrl: string): protobuf.Type | undefined {
    try {
      const t = this.o.wire.type(typeUrl.slice('type.googleapis.com/'.length));
      this.decoders.set(typeUrl, t);
      return t;
    } catch {
      return undefined;
    }
  }

  /** Waits (bounded) until pred holds. */
  async until<T>(pred: () => T, what: string, timeoutMs = 10_000): Promise<NonNullable<T>> {
    return waitFor(pred, { timeoutMs, what });
  }

  /** For failure reports: the channel's connectivity state, the stream's age and what it has received. */
  diagnose(): string {
    const state = grpc.connectivityState[this.client.getChannel().getConnectivityState(false)];
    const age =
      this.openedAt === undefined ? 'no stream' : `stream open ${Math.round(performance.now() - this.openedAt)} ms`;
    return `channel ${state}, ${age}, ${this.received.length} responses; channelz: ${channelz(this.channelId).text}`;
  }

  /** The channel's current sockets as grpc-js counts them (local port, keepalive PINGs sent). */
  sockets(): SocketStats[] {
    return channelz(this.channelId).sockets;
  }

  private get channelId(): number {
    return this.client.getChannel().getChannelzRef().id;
  }

  /** Ends the stream from the client side (like a ztunnel restart of its xDS loop). */
  disconnect(): void {
    const c = this.call;
    this.call = undefined;
    c?.cancel();
  }

  close(): void {
    this.disconnect();
    this.client.close();
  }
}

function toValue(v: unknown): Record<string, unknown> {
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'number') return { numberValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  if (Array.isArray(v)) return { listValue: { values: v.map(toValue) } };
  if (v && typeof v === 'object') return { structValue: toStruct(v as Record<string, unknown>) };
  return { nullValue: 0 };
}

function toStruct(o: Record<string, unknown>): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) fields[k] = toValue(v);
  return { fields };
}

export interface SocketStats {
  localPort?: number;
  keepalivesSent: number;
}

/** The fields of grpc-js's channelz replies (grpc/channelz/v1/channelz.proto) that channelz() reads. */
type Count = number | string;
interface ChannelzTrace {
  events?: { description: string; timestamp?: { seconds: number; nanos: number } }[];
}
interface ChannelzCalls {
  calls_started: Count;
  calls_succeeded: Count;
  calls_failed: Count;
  trace?: ChannelzTrace;
}
interface ChannelzReply {
  channel?: { data: ChannelzCalls; subchannel_ref?: { subchannel_id: Count }[] };
  subchannel?: {
    data: ChannelzCalls & { state?: { state: string } };
    socket_ref?: { socket_id: Count; name: string }[];
  };
  socket?: {
    local?: { tcpip_address?: { port: number } };
    data: Record<
      'streams_started' | 'streams_succeeded' | 'streams_failed' | 'messages_sent' | 'messages_received',
      Count
    > & { keep_alives_sent?: Count };
  };
}

/**
 * grpc-js's own account of a channel (its channelz handlers, called in
 * process): call counts and state-transition trace of the channel and its
 * subchannels, and each socket's local port, streams and messages. For
 * failure reports and transport checks in tests.
 */
function channelz(channelId: number): { text: string; sockets: SocketStats[] } {
  // The handlers are grpc-js server handlers; called in process with just the request they read.
  const h = grpc.getChannelzHandlers() as unknown as Record<
    string,
    (call: { request: Record<string, unknown> }, cb: (err: unknown, v?: ChannelzReply) => void) => void
  >;
  const get = (method: string, request: Record<string, unknown>): ChannelzReply | undefined => {
    let out: ChannelzReply | undefined;
    h[method]!({ request }, (err, v) => (out = err ? undefined : v));
    return out;
  };
  const trace = (
    t: { events?: { description: string; timestamp?: { seconds: number; nanos: number } }[] } | undefined,
  ): string =>
    (t?.events ?? [])
      .map((e) => {
        const at = e.timestamp ? new Date(e.timestamp.seconds * 1000 + e.timestamp.nanos / 1e6) : undefined;
        return `${at ? at.toISOString().slice(11, 23) : '?'} ${e.description}`;
      })
      .join(' | ');
  const sockets: SocketStats[] = [];
  const ch = get('GetChannel', { channel_id: channelId })?.channel;
  if (!ch) return { text: 'no channelz entry', sockets };
  const parts = [
    `calls ${ch.data.calls_started}/${ch.data.calls_succeeded}/${ch.data.calls_failed} (started/ok/failed); ` +
      `trace: ${trace(ch.data.trace)}`,
  ];
  for (const ref of ch.subchannel_ref ?? []) {
    const sc = get('GetSubchannel', { subchannel_id: ref.subchannel_id })?.subchannel;
    if (!sc) continue;
    parts.push(
      `subchannel ${ref.subchannel_id} ${sc.data.state?.state ?? '?'}, ` +
        `calls ${sc.data.calls_started}/${sc.data.calls_succeeded}/${sc.data.calls_failed}; ` +
        `trace: ${trace(sc.data.trace)}`,
    );
    for (const so of sc.socket_ref ?? []) {
      const k = get('GetSocket', { socket_id: so.socket_id })?.socket;
      if (!k) continue;
      const stats: SocketStats = {
        localPort: k.local?.tcpip_address?.port,
        keepalivesSent: Number(k.data.keep_alives_sent ?? 0),
      };
      sockets.push(stats);
      parts.push(
        `socket ${so.name} local port ${stats.localPort ?? '?'}, ` +
          `streams ${k.data.streams_started}/${k.data.streams_succeeded}/${k.data.streams_failed}, ` +
          `messages sent ${k.data.messages_sent} received ${k.data.messages_received}, ` +
          `keepalives ${stats.keepalivesSent}`,
      );
    }
  }
  return { text: parts.join('; '), sockets };
}
