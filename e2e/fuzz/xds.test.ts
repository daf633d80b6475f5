import t from 'tap';
import * as grpc from '@grpc/grpc-js';
import * as tls from 'node:tls';
import { execFileSync } from 'node:child_process';
import { Registry } from 'prom-client';
import { GrpcCode } from '../../pkg/errors';
import { systemClock } from '../../pkg/lifecycle';
import { createSilentLogger } from '../../pkg/log';
import { TLS13_CIPHERS } from '../../pkg/transport';
import {
  decodeDeltaRequest,
  decodeDeltaRequestSlow,
  WireError,
  TYPE_ADDRESS,
  TYPE_AUTHORIZATION,
  type DeltaRequest,
  joinParts,
} from '../../pkg/wire';
import { ADS_DELTA_PATH, ResourceCache, XdsStream, createXdsMetrics, entryFromBytes } from '../../pkg/xds';
import { testWire } from '../harness/xds-fixture';
import { startDaemon } from '../harness/daemon-fixture';
import { canon } from '../chaos/oracle';
import { Rng, mutateBytes, Outcomes, heapBound, CASE_BOUND_MS } from './mutate';

const SEED = 0x5d5;
const CASES = 10_000;
const GRPC_CASES = 500;
const wire = testWire();
const REQ = wire.DeltaDiscoveryRequest;
const RESP = wire.DeltaDiscoveryResponse;
const enc = (o: Record<string, unknown>): Buffer => Buffer.from(REQ.encode(REQ.fromObject(o)).finish());
const node = (id: string): Record<string, unknown> => ({
  id,
  metadata: {
    fields: {
      NAME: { stringValue: 'z' },
      NAMESPACE: { stringValue: 'istio-system' },
      INSTANCE_IPS: { stringValue: '10.0.0.9' },
    },
  },
});

/**
 * Valid requests of every shape ztunnel sends: initial (with versions), ACK, NACK, on-demand, unsubscribe, unknown
 * type.
 */
function corpus(irv: Record<string, string>): Buffer[] {
  const id = 'ztunnel~10.0.0.9~z.istio-system~istio-system.svc.cluster.local';
  return [
    enc({ node: node(id), typeUrl: TYPE_ADDRESS, initialResourceVersions: irv }),
    enc({ node: node(id), typeUrl: TYPE_AUTHORIZATION }),
    enc({ typeUrl: TYPE_ADDRESS, responseNonce: '1' }),
    enc({ typeUrl: TYPE_AUTHORIZATION, responseNonce: '2' }),
    enc({ typeUrl: TYPE_ADDRESS, responseNonce: '1', errorDetail: { code: 0, message: 'rejected: bad' } }),
    enc({
      typeUrl: TYPE_ADDRESS,
      resourceNamesSubscribe: ['/10.0.0.3', 'default/svc-1.default.svc.cluster.local', 'Kubernetes//Pod/default/w-5'],
    }),
    enc({ node: node(id), typeUrl: TYPE_ADDRESS, resourceNamesSubscribe: ['*'], resourceNamesUnsubscribe: ['*'] }),
    enc({ typeUrl: TYPE_ADDRESS, resourceNamesUnsubscribe: ['*', 'Kubernetes//Pod/default/w-1'] }),
    enc({ node: node(id), typeUrl: 'type.googleapis.com/envoy.config.cluster.v3.Cluster' }),
  ];
}

function protocAccepts(b: Buffer): boolean {
  try {
    execFileSync(
      'protoc',
      [
        `-I${wire.protoDir}`,
        '--decode=envoy.service.discovery.v3.DeltaDiscoveryRequest',
        'envoy/service/discovery/v3/discovery.proto',
      ],
      { input: b, stdio: ['pipe', 'ignore', 'ignore'] },
    );
    return true;
  } catch {
    return false;
  }
}

function sameDecode(a: DeltaRequest, b: DeltaRequest): boolean {
  return (
    a.typeUrl === b.typeUrl &&
    a.responseNonce === b.responseNonce &&
    a.subscribe.join('\0') === b.subscribe.join('\0') &&
    a.unsubscribe.join('\0') === b.unsubscribe.join('\0') &&
    (a.node?.id ?? '') === (b.node?.id ?? '') &&
    !a.errorDetail === !b.errorDetail
  );
}

t.test(`delta-xDS requests in-process: ${CASES} streams of mutated requests, seed ${SEED}`, async (t) => {
  t.comment(`fuzz seed ${SEED}`);
  const cache = new ResourceCache({});
  const aEnc = (o: Record<string, unknown>): Uint8Array => wire.Address.encode(wire.Address.fromObject(o)).finish();
  const ups = [];
  for (let i = 0; i < 200; i++)
    ups.push(
      entryFromBytes(
        TYPE_ADDRESS,
        `Kubernetes//Pod/default/w-${i}`,
        aEnc({
          workload: {
            uid: `Kubernetes//Pod/default/w-${i}`,
            name: `w-${i}`,
            namespace: 'default',
            addresses: [Buffer.from([10, 0, i >> 8, i & 255])],
          },
        }),
        [`/10.0.${i >> 8}.${i & 255}`],
      ),
    );
  for (let i = 0; i < 20; i++)
    ups.push(
      entryFromBytes(
        TYPE_ADDRESS,
        `default/svc-${i}.default.svc.cluster.local`,
        aEnc({ service: { name: `svc-${i}`, namespace: 'default', hostname: `svc-${i}.default.svc.cluster.local` } }),
      ),
    );
  const pols = Array.from({ length: 10 }, (_, i) =>
    entryFromBytes(
      TYPE_AUTHORIZATION,
      `default/p${i}`,
      wire.Authorization.encode(
        wire.Authorization.fromObject({ name: `p${i}`, namespace: 'default', scope: 1 }),
      ).finish(),
    ),
  );
  cache.commit([
    { typeUrl: TYPE_ADDRESS, upserts: ups },
    { typeUrl: TYPE_AUTHORIZATION, upserts: pols },
  ]);
  const names = new Map([
    [TYPE_ADDRESS, new Set(ups.map((e) => e.name))],
    [TYPE_AUTHORIZATION, new Set(pols.map((e) => e.name))],
  ]);
  const irv: Record<string, string> = {};
  ups.slice(0, 50).forEach((e, i) => (irv[e.name] = i % 5 ? e.version : 'stale'));
  irv['Kubernetes//Pod/default/gone'] = 'x';
  const seeds = corpus(irv);
  const metrics = createXdsMetrics(new Registry());
  const logger = createSilentLogger();

  const rng = new Rng(SEED);
  const out = new Outcomes();
  const bad: string[] = [];
  const lenient: string[] = [];
  let arbitrated = 0;
  let open = 0;
  const heap0 = process.memoryUsage().heapUsed;
  const runStream = async (
    reqs: Buffer[],
    caseNo: number,
    check = true,
  ): Promise<{ responses: { typeUrl: string; names: string[] }[]; closed?: { code: number; details: string } }> => {
    const got: { responses: { typeUrl: string; names: string[] }[]; closed?: { code: number; details: string } } = {
      responses: [],
    };
    const stream = new XdsStream({
      id: String(caseNo),
      cache,
      logger,
      clock: systemClock,
      metrics,
      typeOrder: [TYPE_ADDRESS, TYPE_AUTHORIZATION],
      sink: {
        write(buf, done) {
          const r = RESP.decode(Buffer.isBuffer(buf) ? buf : joinParts(buf)) as unknown as {
            typeUrl: string;
            nonce: string;
            resources: { name: string }[];
            removedResources: string[];
          };
          got.responses.push({ typeUrl: r.typeUrl, names: r.resources.map((x) => x.name) });
          for (const x of r.resources)
            if (check && !names.get(r.typeUrl)?.has(x.name))
              bad.push(`case ${caseNo}: served unknown ${r.typeUrl} ${x.name}`);
          queueMicrotask(done);
        },
        close(code, details) {
          got.closed = { code, details };
        },
      },
      onClose: () => open--,
    });
    open++;
    for (const b of reqs) {
      let req: DeltaRequest | undefined;
      let slow: DeltaRequest | WireError;
      try {
        slow = decodeDeltaRequestSlow(REQ, b);
      } catch (e) {
        slow = e as WireError;
      }
      try {
        req = decodeDeltaRequest(REQ, b);
      } catch (e) {
        if (!(e instanceof WireError) || !e.code) bad.push(`case ${caseNo}: decode threw ${(e as Error).message}`);
        else out.add(`wire:${e.code}`);
        if (check && !(slow instanceof Error)) {
          out.add('decoder-disagreement:fast-rejects');
          // protobufjs is lenient here; protoc (arbitrating a sample, it is a process per call) must reject too.
          if (arbitrated++ < 50 && protocAccepts(b))
            bad.push(`case ${caseNo}: fast decoder rejects bytes protoc accepts: ${b.toString('hex').slice(0, 120)}`);
        }
        // The server ends the stream on a malformed request.
        stream.end(GrpcCode.INVALID_ARGUMENT, 'malformed DeltaDiscoveryRequest');
        break;
      }
      if (check && slow instanceof Error) {
        // Differential oracle, arbitrated by protoc (an independent wire-format implementation).
        if (protocAccepts(b)) out.add('decoder-disagreement:protobufjs-stricter-than-protoc');
        else
          lenient.push(
            `case ${caseNo}: fast decoder accepts bytes protoc and protobufjs reject ` +
              `(${slow.message.slice(0, 80)})` +
              `: ${b.toString('hex').slice(0, 120)}`,
          );
      } else if (check && !sameDecode(req, slow as DeltaRequest)) {
        // protobufjs reads a known field even when its wire type is wrong; protoc and the fast decoder skip it as
        // unknown.
        out.add('decoder-disagreement:protobufjs-wire-type-mismatch');
      }
      try {
        stream.onRequest(req);
      } catch (e) {
        bad.push(`case ${caseNo}: onRequest threw ${(e as Error).stack?.slice(0, 300)}`);
        break;
      }
      await new Promise((r) => setImmediate(r));
      if (stream.isClosed) break;
    }
    await new Promise((r) => setImmediate(r));
    if (got.closed) {
      if (!(got.closed.code > 0 && got.closed.code <= 16) || !got.closed.details)
        bad.push(`case ${caseNo}: closed with unclear status ${JSON.stringify(got.closed)}`);
      out.add(`closed:${got.closed.code}:${got.closed.details.replace(/[0-9]+/g, 'N').slice(0, 60)}`);
    } else out.add(got.responses.length ? 'served' : 'open-quiet');
    stream.dispose();
    return got;
  };

  for (let i = 0; i < CASES; i++) {
    const n = 1 + rng.int(4);
    const reqs: Buffer[] = [];
    for (let j = 0; j < n; j++) {
      const s = rng.pick(seeds);
      reqs.push(rng.chance(0.6) || j === n - 1 ? mutateBytes(rng, s, seeds) : s);
    }
    const t0 = performance.now();
    await runStream(reqs, i);
    out.time(`case ${i}`, performance.now() - t0);
  }
  const heap1 = process.memoryUsage().heapUsed;
  t.comment(`outcomes: ${out.summary().slice(0, 2000)}`);
  t.comment(
    `slowest ${out.maxCaseMs.toFixed(1)} ms (${out.slowest}); ` +
      `heap ${(heap0 / 1e6).toFixed(0)} -> ${(heap1 / 1e6).toFixed(0)} MB`,
  );
  t.same(
    bad.slice(0, 20),
    [],
    'no throw, decoders agree, every close has a gRPC code and details, only cached names served',
  );
  // The fast decoder is never more lenient than the wire format (protoc arbitrates).
  t.same(lenient.slice(0, 10), [], 'fast decoder rejects everything protoc rejects');
  t.equal(open, 0, 'every stream disposed (no cursor or stream leak)');
  t.ok(out.maxCaseMs < CASE_BOUND_MS, 'no case hung');
  t.ok(heap1 < heapBound(heap0), 'heap bounded');
  t.ok(
    [...out.counts.keys()].some((k) => k.startsWith('wire:')),
    'malformed requests seen',
  );
  t.ok(out.counts.get('served'), 'streams served');
  // Correct state afterwards: a fresh ztunnel-shaped stream gets every resource.
  const fresh = await runStream([seeds[0]!, seeds[1]!], -1);
  const served = new Map<string, Set<string>>();
  for (const r of fresh.responses)
    for (const n of r.names) (served.get(r.typeUrl) ?? served.set(r.typeUrl, new Set()).get(r.typeUrl)!).add(n);
  t.same(
    [...(served.get(TYPE_ADDRESS) ?? [])].sort(),
    [...names.get(TYPE_ADDRESS)!].filter((n) => !(n in irv) || irv[n] === 'stale').sort(),
    'fresh stream: every Address it lacks (IRV honoured)',
  );
  t.same(
    [...(served.get(TYPE_AUTHORIZATION) ?? [])].sort(),
    [...names.get(TYPE_AUTHORIZATION)!].sort(),
    'fresh stream: every Authorization',
  );
});

t.test(
  `delta-xDS requests over real gRPC: ${GRPC_CASES} mutated first requests to a live daemon, seed ${SEED + 1}`,
  async (t) => {
    const d = await startDaemon({
      files: {
        'ns.yaml':
          'apiVersion: v1\nkind: Namespace\nmetadata: { name: shop, labels: { istio.io/dataplane-mode: ambient } }\n',
        'svc.yaml':
          'apiVersion: v1\nkind: Service\nmetadata: { name: web, namespace: shop }\n' +
          'spec: { clusterIP: 10.96.0.10, selector: { app: web }, ' +
          'ports: [{ name: http, port: 80, targetPort: 8080 }] }\n',
        'pod.yaml':
          'apiVersion: v1\nkind: Pod\nmetadata: { name: web-0, namespace: shop, labels: { app: web } }\n' +
          'spec: { serviceAccountName: web }\n' +
          'status: { phase: Running, podIP: 10.1.0.1, conditions: [{ type: Ready, status: "True" }] }\n',
      },
    });
    t.teardown(() => d.close());
    const snapshot = async (): Promise<string> => {
      const z = d.ztunnel();
      z.connect();
      await z.until(
        () => z.acked.get(TYPE_ADDRESS) && z.acked.get(TYPE_AUTHORIZATION) && d.daemon.xds.allInSync(),
        'fresh ztunnel synced',
      );
      const s = canon([...z.state].map(([k, m]) => [k, [...m].map(([n, h]) => [n, h.value])]));
      z.close();
      return s;
    };
    const before = await snapshot();
    t.match(before, 'shop/web.shop.svc.cluster.local', 'baseline state has the service');
    const token = d.token();
    const creds = grpc.credentials.createFromSecureContext(
      tls.createSecureContext({
        ca: d.daemon.authority.rootBundlePem(),
        minVersion: 'TLSv1.3',
        ciphers: TLS13_CIPHERS,
      }),
    );
    const client = new grpc.Client(`127.0.0.1:${d.daemon.grpcPort}`, creds, {
      'grpc.ssl_target_name_override': 'istiod.istio-system.svc',
    });
    t.teardown(() => client.close());
    const id = 'ztunnel~10.0.0.9~z.istio-system~istio-system.svc.cluster.local';
    const seeds = corpus({ 'shop/web.shop.svc.cluster.local': 'old' });
    const rng = new Rng(SEED + 1);
    const out = new Outcomes();
    const bad: string[] = [];
    const heap0 = process.memoryUsage().heapUsed;
    // One stream per case: the mutant first (the most exposed position), then ztunnel's real initial requests.
    // A case ends with a status or once both types were answered; bounded either way.
    const one = (i: number): Promise<void> =>
      new Promise((resolve) => {
        const md = new grpc.Metadata();
        md.set('authorization', `Bearer ${token}`);
        md.set('clusterid', 'c1');
        const call = client.makeBidiStreamRequest(
          ADS_DELTA_PATH,
          (b: Buffer) => b,
          (b: Buffer) => b,
          md,
        );
        const seen = new Set<string>();
        const t0 = performance.now();
        let done = false;
        let responses = 0;
        let quietChecks = 0;
        const finish = (what: string): void => {
          if (done) return;
          done = true;
          clearInterval(poll);
          out.add(what);
          out.time(`case ${i}`, performance.now() - t0);
          call.cancel();
          resolve();
        };
        // A stream that stays open is "quiet" once the daemon owes nobody anything (every stream has
        // ACKed its latest response) and nothing new arrived across two checks; past 3 s it counts as hung.
        let lastSeen = -1;
        const poll = setInterval(() => {
          if (performance.now() - t0 > 3000) return void finish('hung');
          if (responses > 0 && d.daemon.xds.allInSync() && responses === lastSeen) quietChecks++;
          else quietChecks = 0;
          lastSeen = responses;
          if (quietChecks >= 2) finish('open-quiet');
        }, 20);
        call.on('data', (b: Buffer) => {
          responses++;
          const r = RESP.decode(b) as unknown as { typeUrl: string; nonce: string };
          call.write(enc({ typeUrl: r.typeUrl, responseNonce: r.nonce }));
          seen.add(r.typeUrl);
          if (seen.has(TYPE_ADDRESS) && seen.has(TYPE_AUTHORIZATION)) finish('served');
        });
        call.on('error', () => undefined);
        call.on('status', (s: grpc.StatusObject) => {
          if (s.code === grpc.status.CANCELLED) return;
          if (!s.details) bad.push(`case ${i}: status ${s.code} without details`);
          finish(`status:${s.code}:${s.details.slice(0, 50)}`);
        });
        call.write(mutateBytes(rng, rng.pick(seeds), seeds));
        call.write(enc({ node: node(id), typeUrl: TYPE_ADDRESS }));
        call.write(enc({ node: node(id), typeUrl: TYPE_AUTHORIZATION }));
      });
    for (let i = 0; i < GRPC_CASES; i += 25)
      await Promise.all(Array.from({ length: Math.min(25, GRPC_CASES - i) }, (_, j) => one(i + j)));
    const heap1 = process.memoryUsage().heapUsed;
    t.comment(`outcomes: ${out.summary()}; slowest ${out.maxCaseMs.toFixed(0)} ms`);
    t.equal(out.total(), GRPC_CASES, 'every case finished');
    t.same(bad, [], 'every refusal carries details');
    t.ok(out.counts.get('served'), 'streams that survived the mutant were served');
    t.ok(
      [...out.counts.keys()].some((k) => k.startsWith('status:3')),
      'malformed requests refused with INVALID_ARGUMENT',
    );
    t.ok(heap1 < heapBound(heap0), 'heap bounded');
    t.equal(await snapshot(), before, 'a fresh ztunnel gets exactly the state it got before the fuzz');
  },
);
