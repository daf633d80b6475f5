import * as fs from 'node:fs';
import * as tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { PeerCall } from '../peering';
import { readDeltaResponse, decodedAs, TYPE_ADDRESS, type Wire } from '../wire';
import { ADS_DELTA_PATH } from '../xds';
import type { AddressMsg } from '../translate';
import { Backoff, type Clock } from '../lifecycle';
import type { Logger } from '../log';
import { TLS13_CIPHERS } from '../transport';
import { buildRouteTable, RouteTable, type RouteContext } from './routes';

export interface CatalogOptions {
  wire: Wire;
  /** host:port of the daemon's xDS server. */
  host: string;
  port: number;
  serverName: string;
  rootCaFile: string;
  tokenFile: string;
  clusterId: string;
  /** ns/sa of the gateway: NAMESPACE in the node metadata must be the token's namespace. */
  identity: string;
  routes: RouteContext;
  clock: Clock;
  logger: Logger;
  /** After the first complete Address response of a connection, and whenever the table changes. */
  onTable: (t: RouteTable) => void;
  onConnected: (up: boolean) => void;
  backoff?: { initialMs: number; maxMs: number };
}

const DECODE = { longs: Number, enums: Number, bytes: Buffer, defaults: false, oneofs: true };

/**
 * The gateway's view of its cluster: a delta-xDS client of the local daemon in
 * the same role as a ztunnel (wildcard Address subscription, bearer token and
 * clusterid headers, ACK/NACK per response, initial_resource_versions on
 * reconnect; ztunnel src/xds/client.rs). The only writer of the held resources;
 * each change becomes a new immutable RouteTable. A lost stream keeps the last
 * table (a failure is never a deletion) and reconnects with backoff.
 */
export class Catalog {
  private readonly held = new Map<string, { version: string; msg: AddressMsg }>();
  private call?: PeerCall;
  private timer?: NodeJS.Timeout;
  private rebuild?: NodeJS.Immediate;
  private closed = false;
  private readonly backoff: Backoff;
  private readonly log: Logger;
  table = RouteTable.EMPTY;
  synced = false;
  connects = 0;
  nacks = 0;

  constructor(private readonly o: CatalogOptions) {
    this.backoff = new Backoff({
      initialMs: o.backoff?.initialMs ?? 200,
      maxMs: o.backoff?.maxMs ?? 15_000,
      jitter: 0.3,
    });
    this.log = o.logger.child({ component: 'eastwest-xds' });
  }

  start(): void {
    this.connect();
  }

  private connect(): void {
    if (this.closed) return;
    this.timer = undefined;
    let token: string;
    let roots: string;
    try {
      token = fs.readFileSync(this.o.tokenFile, 'utf8').trim();
      roots = fs.readFileSync(this.o.rootCaFile, 'utf8');
    } catch (e) {
      return void this.ended(`cannot read token or roots: ${(e as Error).message}`);
    }
    const ctx = tls.createSecureContext({ ca: roots, minVersion: 'TLSv1.3', ciphers: TLS13_CIPHERS });
    const call: PeerCall = new PeerCall({
      host: this.o.host,
      port: this.o.port,
      path: ADS_DELTA_PATH,
      headers: { authorization: `Bearer ${token}`, clusterid: this.o.clusterId },
      secureContext: ctx,
      // Chain verified against the roots first; then the DNS name, as ztunnel's ALT_XDS_HOSTNAME.
      checkServerIdentity: (cert) => tls.checkServerIdentity(this.o.serverName, cert),
      maxMessageBytes: 200 * 1024 * 1024,
      keepaliveMs: 30_000,
      keepaliveTimeoutMs: 10_000,
      onEstablished: () => this.up(call),
      onMessage: (b) => {
        if (this.call !== call) return;
        this.up(call);
        this.onResponse(b);
      },
      onEnd: (code, details) => {
        if (this.call !== call) return;
        this.call = undefined;
        this.ended(`${grpc.status[code] ?? code}: ${details}`);
      },
    });
    this.call = call;
    const [ns, sa] = this.o.identity.split('/');
    const irv: Record<string, string> = {};
    for (const [n, h] of this.held) irv[n] = h.version;
    this.send({
      node: {
        id: `ztunnel~0.0.0.0~${sa}.${ns}~${ns}.svc.cluster.local`,
        metadata: {
          fields: {
            NAMESPACE: { stringValue: ns },
            NAME: { stringValue: sa },
            CLUSTER_ID: { stringValue: this.o.clusterId },
          },
        },
      },
      typeUrl: TYPE_ADDRESS,
      resourceNamesSubscribe: [],
      initialResourceVersions: irv,
    });
  }

  private connected = false;

  private up(call: PeerCall): void {
    if (this.connected || this.call !== call) return;
    this.connected = true;
    this.connects++;
    this.o.onConnected(true);
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
      return void this.ended(read.reason);
    }
    const resp = read.resp;
    if (resp.typeUrl !== TYPE_ADDRESS) {
      this.nacks++;
      const errorDetail = { code: 3, message: 'not requested' };
      return void this.send({ typeUrl: resp.typeUrl, responseNonce: resp.nonce, errorDetail });
    }
    const rejects: string[] = [];
    const A = this.o.wire.Address;
    for (const r of resp.resources) {
      if (!r.resource) {
        rejects.push(`${r.name}: missing resource`);
        continue;
      }
      try {
        const msg = decodedAs<AddressMsg>(A.toObject(A.decode(r.resource.value), DECODE));
        this.held.set(r.name, { version: r.version, msg });
      } catch (e) {
        rejects.push(`${r.name}: ${(e as Error).message}`); // last good copy stays
      }
    }
    for (const n of resp.removedResources ?? []) this.held.delete(n);
    if (rejects.length) {
      this.nacks++;
      const message = rejects.join('; ');
      this.log.warn({ rejected: message.slice(0, 2000) }, 'NACKed Address resources; keeping last good copies');
      this.send({ typeUrl: resp.typeUrl, responseNonce: resp.nonce, errorDetail: { code: 0, message } });
    } else {
      this.send({ typeUrl: resp.typeUrl, responseNonce: resp.nonce });
    }
    if (!this.synced) {
      // The first response of the first connection is the whole state: build at once (readiness waits for it).
      this.synced = true;
      this.backoff.reset();
      this.build();
      return;
    }
    this.backoff.reset();
    // Coalesce a burst of responses into one build.
    this.rebuild ??= setImmediate(() => this.build());
  }

  private build(): void {
    this.rebuild = undefined;
    this.table = buildRouteTable(
      [...this.held.values()].map((h) => h.msg),
      this.o.routes,
    );
    this.o.onTable(this.table);
  }

  private ended(message: string): void {
    const was = this.connected;
    this.connected = false;
    if (was) this.o.onConnected(false);
    if (this.closed) return;
    const delay = this.backoff.next();
    (was ? this.log.warn.bind(this.log) : this.log.debug.bind(this.log))(
      { message: message.slice(0, 500), retryInMs: delay },
      'xDS stream ended; keeping the last routes',
    );
    this.timer = setTimeout(() => this.connect(), delay);
    this.timer.unref?.();
  }

  /** Resources held (for /debug). */
  get size(): number {
    return this.held.size;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.rebuild) clearImmediate(this.rebuild);
    const c = this.call;
    this.call = undefined;
    c?.cancel();
  }
}
