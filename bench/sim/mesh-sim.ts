/**
 * The mesh scenario's simulator (bench/scenarios/mesh.ts), forked twice: `peers` serves N virtual
 * peer control planes, `ztunnels` holds the simulated ztunnels on the daemon. Built to hold
 * N = 10,000 peers in well under 4 GB (issue 20, target 8; the grpc-js version needed ~18 GB):
 *
 * - one node:http2 TLS server (one SecureContext) for every peer address: each 127.1.x.y listener
 *   is a bare net.Server that hands its sockets to it (tls.Server takes them on 'connection'), where
 *   grpc-js built one secure server per bound address;
 * - no per-peer payload kept: a first sync is assembled on demand from 100 per-service templates
 *   shared by all peers (the bytes differ only by capacity bucket) plus the peer's own origin stamp,
 *   so every peer's content and versions are still its own; the only per-peer state is the services
 *   a crossing moved out of the base bucket;
 * - requests and responses through bench/lib/pb-peer.ts, no protobufjs objects per message;
 * - the ztunnels count split-horizon workloads in a bitmap of (peer, service), not a Set of names.
 *
 * IPC as before: → {ev:'ready'}; peers: serve / churn / crossings / report / close;
 * ztunnels: ztunnels / progress / report / close.
 */
import * as http2 from 'node:http2';
import * as net from 'node:net';
import { TLS13_CIPHERS } from '../../pkg/transport';
import { contentVersion, loadWire } from '../../pkg/wire';
import { ADS_DELTA_PATH } from '../../pkg/xds';
import {
  PEERING_PROTO,
  TYPE_CLUSTER_INFO,
  TYPE_FEDERATED_SERVICE,
  capacityBucket,
  peeringTypes,
} from '../../pkg/peering';
import { encodeRequest, grpcFrame } from '../lib/pb';
import { ResponseScanner, frameResponse, lenField, parseRequestLite, resourceEntry, varintField } from '../lib/pb-peer';
import { wallNow } from '../lib/sim-proc';
import { adsStream, ztunnelSession } from '../lib/h2-ztunnel';

export const SERVICES = 100;
export const NS = 'bench';
/** Bucket 32; a crossing flips a service to 70 (bucket 64) and back. */
export const BASE_PODS = 40;
const CROSSED_PODS = 70;

export function addressOf(i: number): string {
  return `127.1.${Math.floor(i / 250)}.${(i % 250) + 1}`;
}

export function splitName(i: number, j: number): string {
  const host = `svc-${j}.${NS}.mesh.internal`;
  return `sim-net-${i}/SplitHorizonWorkload/istio-gateways/istio-remote-peer-sim-${i}/${NS}/${host}`;
}

type Msg = Record<string, unknown>;
const send = (m: Msg): void => void process.send!(m);

/** Reassembles gRPC messages from DATA chunks, linearly (a concat only when a message spans chunks). */
function framer(onMessage: (b: Buffer) => void): (c: Buffer) => void {
  let chunks: Buffer[] = [];
  let have = 0;
  return (c) => {
    chunks.push(c);
    have += c.length;
    for (;;) {
      if (have < 5) return;
      if (chunks[0]!.length < 5) chunks = [Buffer.concat(chunks)];
      const len = chunks[0]!.readUInt32BE(1);
      if (have < 5 + len) return;
      const all = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, have);
      const rest = all.subarray(5 + len);
      chunks = rest.length ? [rest] : [];
      have = rest.length;
      onMessage(all.subarray(5, 5 + len));
    }
  };
}

// ---------------------------------------------------------------- peers

function peersMain(): void {
  const wire = loadWire({ extraFiles: [PEERING_PROTO] });
  const types = peeringTypes(wire);
  const FS = types.get(TYPE_FEDERATED_SERVICE)!;
  const CI = types.get(TYPE_CLUSTER_INFO)!;
  const fsType = lenField(4, Buffer.from(TYPE_FEDERATED_SERVICE));
  const ciType = lenField(4, Buffer.from(TYPE_CLUSTER_INFO));
  const fsAny = lenField(1, Buffer.from(TYPE_FEDERATED_SERVICE));
  const ciAny = lenField(1, Buffer.from(TYPE_CLUSTER_INFO));
  // A FederatedService without its origin stamp, per (service, pods): shared by every peer.
  const templates = new Map<string, Buffer>();
  const template = (j: number, pods: number): Buffer => {
    const k = `${j}/${capacityBucket(pods)}`;
    let t = templates.get(k);
    if (!t) {
      t = Buffer.from(
        FS.encode(
          FS.fromObject({
            name: `svc-${j}`,
            namespace: NS,
            hostname: `svc-${j}.${NS}.mesh.internal`,
            ports: [{ port: 80, targetPort: 8080, protocol: 'TCP', name: 'http', appProtocol: 'http' }],
            subjectAltNames: [`spiffe://cluster.local/ns/${NS}/sa/svc-${j}`],
            capacity: capacityBucket(pods),
            scope: 'global',
          }),
        ).finish(),
      );
      templates.set(k, t);
    }
    return t;
  };
  const names = Array.from({ length: SERVICES }, (_, j) => Buffer.from(`${NS}/svc-${j}`));
  const ciName = Buffer.from('cluster');
  let n = 0;
  /** This process serves peers [lo, hi) of n (bench/lib/mesh-shards.ts). */
  let lo = 0;
  let hi = 0;
  let origin0 = 0;
  /** Per peer, the services moved off the base bucket: service -> { pods, origin stamp }. */
  const moved = new Map<number, Map<number, { pods: number; origin: number }>>();
  /** Live streams per peer (one, or two across a reconnect). */
  const streams = new Map<number, Set<http2.ServerHttp2Stream>>();
  // Base content carries a per-peer origin stamp, so peers' bytes and versions differ as real peers' do.
  const fsOf = (i: number, j: number): { body: Buffer; version: string } => {
    const m = moved.get(i)?.get(j);
    const body = Buffer.concat([template(j, m?.pods ?? BASE_PODS), varintField(11, m?.origin ?? origin0 + i)]);
    return { body, version: contentVersion(`${NS}/svc-${j}`, body) };
  };
  const ciOf = (i: number): { body: Buffer; version: string } => {
    const ci = { clusterId: `sim-${i}`, network: `sim-net-${i}`, trustDomain: 'cluster.local', softwareVersion: 'sim' };
    const body = Buffer.from(CI.encode(CI.fromObject(ci)).finish());
    return { body, version: contentVersion('cluster', body) };
  };
  let nonce = 0;
  let replacements = 0;
  let churnSends = 0;
  const changes: [string, number][] = [];
  const timers: NodeJS.Timeout[] = [];
  let podCounts = new Uint16Array(0);

  /** A gRPC-framed response to a subscription: what the peer holds that the request's versions do not say. */
  const response = (i: number, typeUrl: string, irv: Map<string, string>): Buffer => {
    const entries: Buffer[] = [];
    if (typeUrl === TYPE_CLUSTER_INFO) {
      const c = ciOf(i);
      if (irv.get('cluster') !== c.version) entries.push(resourceEntry(ciAny, ciName, c.version, c.body));
      return frameResponse(entries, ciType, String(++nonce));
    }
    if (typeUrl === TYPE_FEDERATED_SERVICE) {
      for (let j = 0; j < SERVICES; j++) {
        const r = fsOf(i, j);
        if (irv.get(`${NS}/svc-${j}`) !== r.version) entries.push(resourceEntry(fsAny, names[j]!, r.version, r.body));
      }
      return frameResponse(entries, fsType, String(++nonce));
    }
    return frameResponse([], lenField(4, Buffer.from(typeUrl)), String(++nonce));
  };

  const onStream = (st: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void => {
    st.on('error', () => undefined);
    if (headers[':path'] !== ADS_DELTA_PATH) {
      st.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '12' }, { endStream: true });
      return;
    }
    st.respond({ ':status': 200, 'content-type': 'application/grpc' });
    let peer = -1;
    const gone = (): void => {
      const set = streams.get(peer);
      if (!set) return;
      set.delete(st);
      if (!set.size) streams.delete(peer);
    };
    st.on(
      'data',
      framer((b) => {
        const req = parseRequestLite(b);
        if (peer < 0 && req.nodeId) {
          const m = /peering-sim-(\d+)\./.exec(req.nodeId);
          const i = m ? Number(m[1]) : -1;
          if (!(i >= lo && i < hi)) return void st.close(http2.constants.NGHTTP2_REFUSED_STREAM);
          peer = i;
          (streams.get(i) ?? streams.set(i, new Set()).get(i)!).add(st);
        }
        if (peer < 0 || req.responseNonce) return; // ACK/NACK
        st.write(response(peer, req.typeUrl, req.irv));
      }),
    );
    st.on('end', () => {
      gone();
      if (!st.closed) st.end();
    });
    st.on('close', gone);
  };

  const listeners: net.Server[] = [];
  const acceptErrors = new Map<string, number>();
  const progress = (): Msg => ({ linked: streams.size, acceptErrors: Object.fromEntries(acceptErrors) });
  let secure: http2.Http2SecureServer | undefined;

  process.on('message', (m: Msg) => {
    void (async () => {
      if (m.cmd === 'serve') {
        n = Number(m.n);
        lo = Number(m.lo ?? 0);
        hi = Number(m.hi ?? n);
        origin0 = Date.now();
        podCounts = new Uint16Array(n * SERVICES).fill(BASE_PODS);
        secure = http2.createSecureServer({
          cert: String(m.chain),
          key: String(m.key),
          minVersion: 'TLSv1.3',
          ciphers: TLS13_CIPHERS,
          allowHTTP1: false,
        });
        secure.on('stream', onStream);
        secure.on('sessionError', () => undefined);
        secure.on('tlsClientError', () => undefined);
        const srv = secure;
        const listen = (addr: string, port: number): Promise<number> =>
          new Promise((resolve, reject) => {
            // A bare listener per address; the one TLS server does the rest (one SecureContext for N peers).
            const l = net.createServer((sock) => void srv.emit('connection', sock));
            l.once('error', reject);
            l.listen(port, addr, 4096, () => {
              l.off('error', reject);
              // Accept failures (EMFILE: a listener and a connection per peer) are counted, not fatal.
              l.on('error', (e: NodeJS.ErrnoException) => {
                const code = e.code ?? 'error';
                acceptErrors.set(code, (acceptErrors.get(code) ?? 0) + 1);
              });
              resolve((l.address() as net.AddressInfo).port);
            });
            listeners.push(l);
          });
        const port = await listen(addressOf(lo), Number(m.port ?? 0));
        for (let i = lo + 1; i < hi; i++) await listen(addressOf(i), port);
        const first = (t: string): number => response(lo, t, new Map()).length - 5;
        // What one virtual peer sends on a first sync (the link floor receives as much per link).
        send({ ev: 'serving', port, firstSyncBytes: first(TYPE_FEDERATED_SERVICE) + first(TYPE_CLUSTER_INFO) });
      } else if (m.cmd === 'churn') {
        // One pod replaced per second per virtual cluster: count -1 then +1, bucket unchanged, nothing to send.
        timers.push(
          setInterval(() => {
            for (let i = lo; i < hi; i++) {
              const k = i * SERVICES + (replacements % SERVICES);
              const before = capacityBucket(podCounts[k]!);
              podCounts[k]!--;
              podCounts[k]!++;
              replacements++;
              if (capacityBucket(podCounts[k]!) !== before) churnSends++;
            }
          }, 1000),
        );
      } else if (m.cmd === 'crossings') {
        // Bucket crossings (32 <-> 64) that must propagate to every ztunnel.
        const period = 1000 / Number(m.crossingsPerSec);
        let x = 0;
        timers.push(
          setInterval(() => {
            const i = (x * 7919) % n;
            const j = x % SERVICES;
            x++;
            if (i < lo || i >= hi) return; // another shard's peer (every shard runs the same schedule)
            const k = i * SERVICES + j;
            podCounts[k] = podCounts[k] === BASE_PODS ? CROSSED_PODS : BASE_PODS;
            const mv = moved.get(i) ?? moved.set(i, new Map()).get(i)!;
            mv.set(j, { pods: podCounts[k], origin: Date.now() });
            const r = fsOf(i, j);
            const entry = resourceEntry(fsAny, names[j]!, r.version, r.body);
            changes.push([splitName(i, j), wallNow()]);
            for (const s of streams.get(i) ?? []) s.write(frameResponse([entry], fsType, String(++nonce)));
          }, period),
        );
      } else if (m.cmd === 'progress') {
        send({ ev: 'progress', ...progress() });
      } else if (m.cmd === 'report') {
        send({ ev: 'report', changes, replacements, churnSends, memory: process.memoryUsage(), ...progress() });
      } else if (m.cmd === 'close') {
        for (const t of timers) clearInterval(t);
        for (const l of listeners) l.close();
        process.exit(0);
      }
    })().catch((e: unknown) => {
      console.error(`mesh simulator (peers): ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
      process.exit(1);
    });
  });
  send({ ev: 'ready' });
}

// ---------------------------------------------------------------- ztunnels

const SPLIT_MARK = Buffer.from('/SplitHorizonWorkload/');
const NET_PREFIX = Buffer.from('sim-net-');
const SUFFIX = Buffer.from(`.${NS}.mesh.internal`);

/** (peer, service) of a split-horizon workload name, from its bytes (see splitName), or -1. */
function splitIndex(buf: Buffer, s: number, e: number): number {
  if (e - s < 60 || buf.compare(NET_PREFIX, 0, NET_PREFIX.length, s, s + NET_PREFIX.length) !== 0) return -1;
  let p = s + NET_PREFIX.length;
  let i = 0;
  while (buf[p]! >= 48 && buf[p]! <= 57) i = i * 10 + buf[p++]! - 48;
  if (buf.compare(SPLIT_MARK, 0, SPLIT_MARK.length, p, p + SPLIT_MARK.length) !== 0) return -1;
  const end = e - SUFFIX.length;
  let q = end;
  while (buf[q - 1]! >= 48 && buf[q - 1]! <= 57) q--;
  let j = 0;
  for (let r = q; r < end; r++) j = j * 10 + buf[r]! - 48;
  return i * SERVICES + j;
}

/**
 * A ztunnel-shaped delta client (Address + Authorization wildcard, ACK every response), reading
 * responses field by field (ResponseScanner). Until it holds every expected split-horizon
 * workload it only marks them in a bitmap; after that it records (name, receipt time) for the
 * propagation figure.
 */
class MeshZtunnel {
  private readonly session: http2.ClientHttp2Session;
  private stream?: http2.ClientHttp2Stream;
  readonly seen: Uint8Array;
  held = 0;
  full = false;
  readonly received: [string, number][] = [];

  constructor(
    private readonly o: {
      address: string;
      rootCaPem: string;
      token: string;
      id: number;
      expect: number;
      onFull: () => void;
    },
  ) {
    this.seen = new Uint8Array(o.expect);
    this.session = ztunnelSession(o);
  }

  start(): void {
    const st = adsStream(this.session, this.o.token);
    this.stream = st;
    const scanner = new ResponseScanner({
      onName: (buf, s, e) => this.onName(buf, s, e),
      onMessage: (t, nonce) => this.onMessage(t, nonce),
    });
    st.on('data', (c: Buffer) => scanner.push(c));
    const id = this.o.id;
    const nodeId = `ztunnel~10.0.0.${id + 1}~zt-${id}.istio-system~istio-system.svc.cluster.local`;
    const types = ['type.googleapis.com/istio.workload.Address', 'type.googleapis.com/istio.security.Authorization'];
    for (const t of types) {
      st.write(grpcFrame(encodeRequest({ typeUrl: t, nodeId, namespace: 'istio-system' })));
    }
  }

  private onName(buf: Buffer, s: number, e: number): void {
    if (this.full) {
      if (this.received.length < 100_000) this.received.push([buf.toString('utf8', s, e), wallNow()]);
      return;
    }
    const k = splitIndex(buf, s, e);
    if (k >= 0 && k < this.seen.length && !this.seen[k]) {
      this.seen[k] = 1;
      this.held++;
    }
  }

  private onMessage(typeUrl: string, nonce: string): void {
    this.stream?.write(grpcFrame(encodeRequest({ typeUrl, nonce })));
    if (!this.full && this.held >= this.o.expect) {
      this.full = true;
      this.o.onFull();
    }
  }

  close(): void {
    this.stream?.close();
    this.session.close();
  }
}

function ztunnelsMain(): void {
  const zts: MeshZtunnel[] = [];
  process.on('message', (m: Msg) => {
    if (m.cmd === 'ztunnels') {
      let done = 0;
      const k = Number(m.k);
      for (let id = 0; id < k; id++) {
        const z = new MeshZtunnel({
          address: String(m.address),
          rootCaPem: String(m.rootCaPem),
          token: String(m.token),
          id,
          expect: Number(m.expect),
          onFull: () => void (++done === k && send({ ev: 'synced', at: Date.now() })),
        });
        z.start();
        zts.push(z);
      }
    } else if (m.cmd === 'progress') {
      send({ ev: 'progress', held: zts.map((z) => z.held) });
    } else if (m.cmd === 'report') {
      send({ ev: 'report', received: zts.map((z) => z.received), memory: process.memoryUsage() });
    } else if (m.cmd === 'close') {
      for (const z of zts) z.close();
      process.exit(0);
    }
  });
  send({ ev: 'ready' });
}

if (require.main === module) {
  if (process.argv[2] === 'peers') peersMain();
  else if (process.argv[2] === 'ztunnels') ztunnelsMain();
}
