/**
 * The whole daemon in `registry.type: kubernetes` mode against a real
 * kube-apiserver + etcd, running as the istiod ServiceAccount of
 * deploy/kubernetes (kubeconfig with a TokenRequest token):
 *  - pods/services written through the API reach a ztunnel-faithful xDS
 *    client (add, pod IP change through status, delete);
 *  - ztunnel's projected token (audience istio-ca) verifies against the
 *    issuer + JWKS the daemon discovered from the API server, for xDS and for
 *    the CA (leaf carries the token's identity); a tampered one is refused.
 * Set-up in daemon-fixture.ts; the peering side (Gateway status, expose/link) in daemon-peering.test.ts.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import t from 'tap';
import { waitFor } from '../../pkg/lifecycle';
import { TYPE_ADDRESS, TYPE_AUTHORIZATION } from '../../pkg/wire';
import { ISSUER } from './harness';
import * as k from './objects';
import {
  admin,
  daemon,
  dir,
  ipOf,
  type Obj,
  skip,
  tamper,
  useKubeDaemon,
  WAIT,
  workload,
  ztunnel,
  ztunnelToken,
} from './daemon-fixture';

useKubeDaemon();

t.test(
  'pods and services written through the API reach a connected ztunnel: add, IP change, delete',
  { skip },
  async (t) => {
    const z = ztunnel(await ztunnelToken());
    z.connect();
    await z.until(
      () =>
        z.received.some((r) => r.typeUrl === TYPE_AUTHORIZATION) && z.received.some((r) => r.typeUrl === TYPE_ADDRESS),
      'initial sync',
      30_000,
    );
    t.notOk(z.status, 'stream stays open with the projected token');

    await k.apply(admin, k.service('apps', 'web', 'web'));
    await k.setPodRunning(admin, await k.apply(admin, k.pod('apps', 'web-0', 'web', 'node-1')), '10.1.0.10');
    const podKey = 'c1//Pod/apps/web-0';
    const svcKey = 'apps/web.apps.svc.cluster.local';
    await z.until(() => workload(z, podKey) && z.held(TYPE_ADDRESS).has(svcKey), 'pod and service arrived', 30_000);
    const w = workload(z, podKey)!;
    t.equal(ipOf(w), '10.1.0.10', 'pod IP from status');
    t.equal(w.namespace, 'apps');
    t.equal(w.serviceAccount, 'default');
    t.equal(w.tunnelProtocol, 1, 'HBONE: the namespace is ambient');
    t.same(Object.keys((w.services as object | undefined) ?? {}), [svcKey], 'selected by the service');
    const svc = z.held(TYPE_ADDRESS).get(svcKey)!.value.service as Obj;
    const live = await admin.json<{ spec: { clusterIP: string } }>('GET', '/api/v1/namespaces/apps/services/web');
    t.same(
      ((svc.addresses as { address: Buffer }[] | undefined) ?? []).map((a) => [...a.address].join('.')),
      [live.spec.clusterIP],
      'service VIP is the clusterIP the API server allocated',
    );

    await k.setPodRunning(admin, k.pod('apps', 'web-0', 'web', 'node-1'), '10.1.0.11');
    await z.until(() => ipOf(workload(z, podKey)) === '10.1.0.11', 'pod IP change propagated', 30_000);
    t.pass('IP change through the status subresource reached the ztunnel');

    await k.remove(admin, k.pod('apps', 'web-0', 'web', 'node-1'));
    await k.remove(admin, k.service('apps', 'web', 'web'));
    await z.until(
      () => !z.held(TYPE_ADDRESS).has(podKey) && !z.held(TYPE_ADDRESS).has(svcKey),
      'deletes propagated',
      30_000,
    );
    t.pass('pod and service deletes reached the ztunnel');
    t.notOk(z.status, 'one stream throughout');
  },
);

t.test(
  'selector-less Service + EndpointSlice: its non-Pod endpoints become workloads at a ztunnel; delete withdraws them',
  { skip },
  async (t) => {
    const z = ztunnel(await ztunnelToken());
    z.connect();
    await z.until(() => z.received.some((r) => r.typeUrl === TYPE_ADDRESS), 'initial sync', 30_000);

    // No selector: nothing but the manually written slice says where "ext" lives.
    const svc = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'ext', namespace: 'apps' },
      spec: { ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }] },
    };
    await k.apply(admin, svc);
    const slice = k.endpointSlice('apps', 'ext-manual', 'ext', '192.168.60.1');
    (slice.endpoints as unknown[]).push(
      { addresses: ['192.168.60.2'], conditions: { ready: false } },
      // Pod-backed: served by the Pod's own workload, never by the slice; that workload gains the Service.
      {
        addresses: ['10.1.0.99'],
        conditions: { ready: true },
        targetRef: { kind: 'Pod', name: 'legacy-0', namespace: 'apps' },
      },
    );
    const legacy = k.pod('apps', 'legacy-0', 'legacy', 'node-1');
    await k.setPodRunning(admin, await k.apply(admin, legacy), '10.1.0.99');
    await k.apply(admin, slice);
    const uid = (ip: string) => `c1/discovery.k8s.io/EndpointSlice/apps/ext-manual/${ip}`;
    const svcKey = 'apps/ext.apps.svc.cluster.local';
    await z.until(
      () => workload(z, uid('192.168.60.1')) && workload(z, uid('192.168.60.2')),
      'endpoint workloads arrived',
      30_000,
    );
    const w = workload(z, uid('192.168.60.1'))!;
    t.equal(ipOf(w), '192.168.60.1');
    t.equal(w.name, 'ext-manual');
    t.equal(w.namespace, 'apps');
    t.equal(w.networkMode, 1, 'HOST_NETWORK: an opaque address');
    t.equal(w.network, 'net1', "the mesh's network");
    const ports = (w.services as Record<string, { ports?: { servicePort: number; targetPort: number }[] }>)[svcKey]
      ?.ports;
    t.same(
      ports?.map((p) => [p.servicePort, p.targetPort]),
      [[80, 8080]],
      'Service port joined to the slice port by name',
    );
    t.notOk(w.status, 'ready endpoint: HEALTHY (the default)');
    t.equal(workload(z, uid('192.168.60.2'))!.status, 1, 'ready=false: UNHEALTHY');
    t.notOk(z.held(TYPE_ADDRESS).has(uid('10.1.0.99')), 'no slice workload for the Pod-backed endpoint');
    const podKey = 'c1//Pod/apps/legacy-0';
    await z.until(
      () => Object.hasOwn(workload(z, podKey)?.services ?? {}, svcKey),
      'listed pod gained the service',
      30_000,
    );
    t.same(
      (workload(z, podKey)!.services as Record<string, { ports?: { servicePort: number; targetPort: number }[] }>)[
        svcKey
      ]?.ports?.map((p) => [p.servicePort, p.targetPort]),
      [[80, 8080]],
      "the Pod's workload lists the selector-less Service (Service targetPort)",
    );
    t.ok(z.held(TYPE_ADDRESS).has(svcKey), 'the service itself is there');

    await k.remove(admin, slice);
    await z.until(
      () => !z.held(TYPE_ADDRESS).has(uid('192.168.60.1')) && !z.held(TYPE_ADDRESS).has(uid('192.168.60.2')),
      'slice delete propagated',
      30_000,
    );
    t.pass('deleting the slice withdrew its workloads');
    await z.until(
      () => !Object.hasOwn(workload(z, podKey)?.services ?? {}, svcKey),
      'pod lost the service with the slice',
      30_000,
    );
    t.pass("the Pod's workload no longer lists the Service");
    await k.remove(admin, legacy);
    t.ok(z.held(TYPE_ADDRESS).has(svcKey), 'the service stays');
    await k.remove(admin, svc);
    t.notOk(z.status, 'one stream throughout');
  },
);

t.test(
  'projected token: accepted by xDS and the CA (identity from the token); tampered one refused',
  { skip },
  async (t) => {
    const token = await ztunnelToken();
    const bad = tamper(token);

    const forged = ztunnel(bad);
    forged.connect();
    await forged.until(() => forged.status, 'tampered token refused on xDS', 30_000);
    t.equal(forged.status!.code, grpc.status.UNAUTHENTICATED, 'xDS: UNAUTHENTICATED');
    t.equal(forged.status!.details, 'authentication failed', 'opaque to the caller');

    const csrDir = fs.mkdtempSync(path.join(dir, 'csr-'));
    execFileSync(
      'openssl',
      [
        'req',
        '-new',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        path.join(csrDir, 'k.pem'),
        '-subj',
        '/',
        '-addext',
        'subjectAltName=URI:spiffe://evil/ns/x/sa/y',
        '-out',
        path.join(csrDir, 'r.csr'),
      ],
      { stdio: 'ignore' },
    );
    const csr = fs.readFileSync(path.join(csrDir, 'r.csr'), 'utf8');
    const root = daemon.authority.rootBundlePem();
    const creds = grpc.credentials.createFromSecureContext(
      tls.createSecureContext({ ca: root, minVersion: 'TLSv1.3' }),
    );
    const client = new grpc.Client(`127.0.0.1:${daemon.grpcPort}`, creds, {
      'grpc.ssl_target_name_override': 'istiod.istio-system.svc',
    });
    t.teardown(() => client.close());
    const Req = daemon.wire.type('istio.v1.auth.IstioCertificateRequest');
    const Resp = daemon.wire.type('istio.v1.auth.IstioCertificateResponse');
    const createCertificate = (bearer: string) => {
      const md = new grpc.Metadata();
      md.set('authorization', `Bearer ${bearer}`);
      return new Promise<{ certChain: string[] }>((resolve, reject) =>
        client.makeUnaryRequest(
          '/istio.v1.auth.IstioCertificateService/CreateCertificate',
          (o: object) => Buffer.from(Req.encode(Req.fromObject(o)).finish()),
          (b: Buffer) => Resp.toObject(Resp.decode(b)) as { certChain: string[] },
          { csr, validityDuration: 3600 },
          md,
          (err, v) => (err ? reject(err) : resolve(v!)),
        ),
      );
    };

    const resp = await createCertificate(token);
    t.ok(resp.certChain.length >= 2, 'leaf + root bundle');
    fs.writeFileSync(path.join(csrDir, 'leaf.pem'), resp.certChain[0]!);
    fs.writeFileSync(path.join(csrDir, 'root.pem'), root);
    const verify = execFileSync('openssl', [
      'verify',
      '-CAfile',
      path.join(csrDir, 'root.pem'),
      '-untrusted',
      path.join(csrDir, 'root.pem'),
      path.join(csrDir, 'leaf.pem'),
    ]).toString();
    t.match(verify, /OK/, 'openssl verifies the leaf against the daemon root');
    const text = execFileSync('openssl', ['x509', '-noout', '-text', '-in', path.join(csrDir, 'leaf.pem')]).toString();
    t.match(text, /URI:spiffe:\/\/cluster\.local\/ns\/istio-system\/sa\/ztunnel/, 'identity from the projected token');
    t.notMatch(text, /spiffe:\/\/evil/, 'not from the CSR');

    const refused = await createCertificate(bad).then(
      () => undefined,
      (e: unknown) => e as grpc.ServiceError,
    );
    t.ok(refused, 'CA refused the tampered token');
    t.equal(refused?.code, grpc.status.UNAUTHENTICATED, 'CA: UNAUTHENTICATED');

    // A token for another audience (the API server's own) is not a mesh credential.
    const wrongAud = await k.requestToken(admin, 'istio-system', 'ztunnel', { audiences: [ISSUER] });
    const other = await createCertificate(wrongAud).then(
      () => undefined,
      (e: unknown) => e as grpc.ServiceError,
    );
    t.equal(other?.code, grpc.status.UNAUTHENTICATED, 'CA: wrong audience refused');

    const good = ztunnel(token);
    good.connect();
    await good.until(
      () => good.received.some((r) => r.typeUrl === TYPE_ADDRESS) || good.status,
      'xDS answered',
      30_000,
    );
    t.notOk(good.status, 'xDS accepted the projected token');
    t.ok(
      good.received.some((r) => r.typeUrl === TYPE_ADDRESS),
      'and served addresses',
    );
  },
);

t.test(
  'a watch event is applied inside the push that commits it: the Kubernetes source waits for the pusher',
  { skip },
  async (t) => {
    // The registry change that gives the pod its IP: had the cache committed by the end of the synchronous work it
    // belongs to? Parked with the pusher (ParkedSink), the commit follows in the same call stack; applied as the
    // watch chunk arrived, the push comes on a later turn.
    const committedWith: boolean[] = [];
    const off = daemon.registry.onChange((c) => {
      if (!c.byKind.get('Pod')?.has('apps/gate-0')) return;
      if (daemon.registry.snapshot().pods.get('apps/gate-0')?.ips[0] !== '10.1.0.20') return;
      const at = daemon.cache.seq;
      process.nextTick(() => committedWith.push(daemon.cache.seq > at));
    });
    t.teardown(off);
    const p = k.pod('apps', 'gate-0', 'web', 'node-1');
    await k.setPodRunning(admin, await k.apply(admin, p), '10.1.0.20');
    await waitFor(() => committedWith.length > 0, { ...WAIT, what: 'the IP change applied' });
    t.same(committedWith, [true], 'committed in the push that applied it');
    await k.remove(admin, p);
  },
);
