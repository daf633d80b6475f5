import * as http2 from 'node:http2';
import { MessageReader, TLS13_CIPHERS } from '../../pkg/transport';
import { encodeRequest, grpcFrame, parseResponse, type LiteResponse } from './pb';

export const TYPE_ADDRESS = 'type.googleapis.com/istio.workload.Address';
export const TYPE_AUTHORIZATION = 'type.googleapis.com/istio.security.Authorization';
const PATH = '/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources';

export interface SimOptions {
  address: string; // host:port
  rootCaPem: string;
  token: string;
  servername?: string;
  /** Pre-encoded initial requests per type (shared across clients: same held state). */
  initial?: Map<string, Buffer>;
  /** Do not read from the socket at all (slow-consumer simulation). */
  stuck?: boolean;
  onResponse?: (c: SimZtunnel, r: LiteResponse, at: number) => void;
  /** Parse resource names (costs CPU in the simulator). */
  wantNames?: boolean;
  session?: http2.ClientHttp2Session;
}

/** A ztunnel's TLS HTTP/2 session to the daemon (errors are the caller's to observe on its stream). */
export function ztunnelSession(o: {
  address: string;
  rootCaPem: string;
  servername?: string;
}): http2.ClientHttp2Session {
  const session = http2.connect(`https://${o.address}`, {
    ca: o.rootCaPem,
    servername: o.servername ?? 'istiod.istio-system.svc',
    minVersion: 'TLSv1.3',
    ciphers: TLS13_CIPHERS,
    maxSessionMemory: 1024,
  });
  session.on('error', () => undefined);
  return session;
}

/** A delta ADS stream as ztunnel opens it (bearer token, cluster id). */
export function adsStream(session: http2.ClientHttp2Session, token: string): http2.ClientHttp2Stream {
  const st = session.request({
    ':method': 'POST',
    ':path': PATH,
    'content-type': 'application/grpc',
    te: 'trailers',
    authorization: `Bearer ${token}`,
    clusterid: 'Kubernetes',
  });
  st.on('error', () => undefined);
  return st;
}

let counter = 0;

/** A ztunnel-shaped delta client on raw node:http2 framing. */
export class SimZtunnel {
  readonly id = ++counter;
  session: http2.ClientHttp2Session;
  stream?: http2.ClientHttp2Stream;
  responses = 0;
  resources = 0;
  firstAt = new Map<string, number>();
  closed = false;
  private readonly acks: Buffer[] = [];

  constructor(private readonly o: SimOptions) {
    this.session = o.session ?? ztunnelSession(o);
    if (o.session) this.session.on('error', () => undefined);
  }

  start(): void {
    const st = adsStream(this.session, this.o.token);
    this.stream = st;
    st.on('close', () => (this.closed = true));
    if (this.o.stuck) st.pause();
    st.on('data', (chunk: Buffer) => this.onData(chunk));
    for (const t of [TYPE_ADDRESS, TYPE_AUTHORIZATION]) {
      const req =
        this.o.initial?.get(t) ??
        grpcFrame(
          encodeRequest({
            typeUrl: t,
            nodeId: `ztunnel~10.0.0.${this.id % 250}~zt-${this.id}.istio-system~istio-system.svc.cluster.local`,
            namespace: 'istio-system',
          }),
        );
      st.write(req);
    }
  }

  /** Receipt time of the chunk being read: a message's time is that of the chunk that completed it. */
  private chunkAt = 0;
  private readonly reader = new MessageReader({
    check: () => true,
    message: (msg) => {
      const at = this.chunkAt;
      const r = parseResponse(Buffer.from(msg), this.o.wantNames ?? true);
      this.responses++;
      this.resources += r.names.length;
      if (!this.firstAt.has(r.typeUrl)) this.firstAt.set(r.typeUrl, at);
      this.queueAck(grpcFrame(encodeRequest({ typeUrl: r.typeUrl, nonce: r.nonce })));
      this.o.onResponse?.(this, r, at);
    },
  });

  private onData(chunk: Buffer): void {
    this.chunkAt = performance.now();
    this.reader.push(chunk);
  }

  /**
   * ACKs go out on the next turn, not inside the read callback: hundreds of
   * simulated ztunnels share one process, and an ACK write (HTTP/2 + TLS)
   * inside each read would delay the next socket's read and so inflate every
   * later client's receipt time. A real ztunnel is its own process.
   */
  private queueAck(b: Buffer): void {
    this.acks.push(b);
    if (this.acks.length > 1) return;
    setImmediate(() => {
      const all = this.acks.splice(0);
      if (!this.closed) this.stream?.write(all.length === 1 ? all[0]! : Buffer.concat(all));
    });
  }

  close(): void {
    this.stream?.close();
    if (!this.o.session) this.session.close();
  }
}
