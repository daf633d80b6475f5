import * as http from 'node:http';
import type { PeeringFactory, PeeringLayer, PeerStatus } from '../../pkg/peering';
import type { AdminServer } from '../../pkg/admin';
import type { Daemon } from '../../pkg/daemon';

/** A small registry: one ambient namespace, a node, a Service, two Pods, one policy. */
export const MESH = `
apiVersion: v1
kind: Namespace
metadata: { name: default, labels: { istio.io/dataplane-mode: ambient } }
---
apiVersion: v1
kind: Node
metadata: { name: node-1, labels: { topology.kubernetes.io/region: r1, topology.kubernetes.io/zone: z1 } }
---
apiVersion: v1
kind: Service
metadata: { name: web, namespace: default }
spec:
  clusterIP: 10.96.0.10
  selector: { app: web }
  ports: [{ name: http, port: 80, targetPort: 8080 }]
---
apiVersion: v1
kind: Pod
metadata: { name: web-2, namespace: default, labels: { app: web } }
spec: { nodeName: node-1, serviceAccountName: web, containers: [{ name: c, ports: [{ containerPort: 8080 }] }] }
status: { phase: Running, podIP: 10.0.0.6, conditions: [{ type: Ready, status: "True" }] }
---
apiVersion: v1
kind: Pod
metadata: { name: web-1, namespace: default, labels: { app: web } }
spec: { nodeName: node-1, serviceAccountName: web, containers: [{ name: c, ports: [{ containerPort: 8080 }] }] }
status: { phase: Running, podIP: 10.0.0.5, conditions: [{ type: Ready, status: "True" }] }
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: allow-web, namespace: default }
spec:
  action: ALLOW
  rules: [{ from: [{ source: { namespaces: [default] } }], to: [{ operation: { ports: ["8080"] } }] }]
`;

/** An object the registry must reject (bad clusterIP), to see it under `rejected`. */
export const BAD_SERVICE = `
apiVersion: v1
kind: Service
metadata: { name: broken, namespace: default }
spec:
  clusterIP: not-an-ip
  ports: [{ port: 80 }]
`;

export interface HttpResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- the test names the body's shape
  json<T = Record<string, unknown>>(): T;
}

/** Plain GET on loopback (no keep-alive, so closing servers is never held up). */
export function get(
  port: number,
  path: string,
  headers: Record<string, string> = {},
  agent: http.Agent | false = false,
): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: () => JSON.parse(body) as never });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

export function adminOf(daemon: Daemon): AdminServer {
  return daemon.admin as unknown as AdminServer;
}

export interface StubPeering {
  factory: PeeringFactory;
  /** Mutable view the stub reports from status(). */
  peers: unknown[];
  restored: boolean;
}

/**
 * STUB peering layer (the real one, pkg/peering, is not wired yet): it serves
 * no extra types, passes the local output through, and reports whatever peer
 * conditions the test puts in `peers`. Used to drive /debug/peers, /ready's
 * "persisted peer state not restored" gate and `ambientd check`'s peer checks
 * through a real daemon and real sockets.
 */
export function stubPeering(initial: unknown[] = [], restored = true): StubPeering {
  const s: StubPeering = {
    peers: initial,
    restored,
    factory: () => {
      const layer: PeeringLayer = {
        exportTypes: new Map(),
        build: ({ local }) => ({ deltas: local.deltas }),
        authorizeType: () => undefined,
        restored: () => s.restored,
        start: async () => undefined,
        close: async () => undefined,
        destroy: () => undefined,
        // The admin side normalises whatever a layer reports (older shapes too, e.g. conditions as a map); these
        // stubs feed it such shapes on purpose, so they are passed through as the layer's declared type.
        status: () => s.peers as PeerStatus[],
      };
      return layer;
    },
  };
  return s;
}

/** A WritableStream collecting everything written (captured pino output). */
export class Capture {
  readonly chunks: string[] = [];
  readonly stream = {
    write: (c: string | Buffer): boolean => {
      this.chunks.push(c.toString());
      return true;
    },
  } as unknown as NodeJS.WritableStream;

  get text(): string {
    return this.chunks.join('');
  }
}
