import t from 'tap';
import { execFileSync } from 'node:child_process';
import {
  loadWire,
  TYPE_ADDRESS,
  encodeDeltaResponse,
  encodeDeltaResponseBody,
  withNonce,
  encodeResourceFrame,
  contentVersion,
  decodeDeltaRequest,
  decodeDeltaRequestSlow,
} from './index';
import { CODECS, encodeMessage } from './index';

// protoc is an independent implementation of the wire format: bytes we encode
// must decode with protoc against the same .proto files, field by field.
const wire = loadWire();
const decode = (type: string, file: string, bytes: Uint8Array): string =>
  execFileSync('protoc', [`-I${wire.protoDir}`, `--decode=${type}`, file], { input: Buffer.from(bytes) }).toString();

t.test('Address(Workload) with every field kind decodes with protoc', async (t) => {
  const msg = {
    workload: {
      uid: 'Kubernetes//Pod/default/a',
      name: 'a',
      namespace: 'default',
      addresses: [Buffer.from([10, 0, 0, 1])],
      network: 'net1',
      tunnelProtocol: 1,
      trustDomain: 'example.org',
      serviceAccount: 'sa1',
      node: 'n1',
      networkGateway: { address: { network: 'net2', address: Buffer.from([192, 168, 1, 1]) }, hboneMtlsPort: 15008 },
      services: { 'default/s.default.svc.cluster.local': { ports: [{ servicePort: 80, targetPort: 8080 }] } },
      authorizationPolicies: ['default/p'],
      status: 1,
      clusterId: 'c1',
      locality: { region: 'r', zone: 'z' },
      capacity: { value: 32 },
      workloadType: 2,
      canonicalName: 'a',
      canonicalRevision: 'v1',
    },
  };
  const bytes = wire.Address.encode(wire.Address.fromObject(msg)).finish();
  const text = decode('istio.workload.Address', 'istio/workload/workload.proto', bytes);
  t.match(text, /uid: "Kubernetes\/\/Pod\/default\/a"/);
  t.match(text, /addresses: "\\n\\000\\000\\001"/, 'raw 4-byte IP');
  t.match(text, /tunnel_protocol: HBONE/);
  t.match(text, /status: UNHEALTHY/);
  t.match(text, /hbone_mtls_port: 15008/);
  t.match(text, /key: "default\/s.default.svc.cluster.local"/);
  t.match(text, /service_port: 80\s+target_port: 8080/);
  t.match(text, /capacity \{\s+value: 32\s+\}/);
  t.match(text, /workload_type: POD/);
  t.match(text, /cluster_id: "c1"/);
});

t.test('Address(Service) and Authorization decode with protoc', async (t) => {
  const svc = {
    service: {
      name: 's',
      namespace: 'default',
      hostname: 's.default.svc.cluster.local',
      addresses: [{ network: '', address: Buffer.from([10, 96, 0, 1]) }],
      ports: [{ servicePort: 80, targetPort: 0, appProtocol: 1 }],
      loadBalancing: { routingPreference: [6, 1], mode: 2, healthPolicy: 1 },
      canonical: true,
      subjectAltNames: ['spiffe://td/ns/x/sa/y'],
    },
  };
  const text = decode(
    'istio.workload.Address',
    'istio/workload/workload.proto',
    wire.Address.encode(wire.Address.fromObject(svc)).finish(),
  );
  t.match(text, /routing_preference: NETWORK\s+routing_preference: REGION\s+mode: FAILOVER\s+health_policy: ALLOW_ALL/);
  t.match(text, /app_protocol: HTTP11/);
  const authz = {
    name: 'p',
    namespace: 'default',
    scope: 2,
    action: 1,
    rules: [
      {
        clauses: [
          {
            matches: [
              {
                notPrincipals: [{ presence: {} }],
                destinationPorts: [9090],
                sourceIps: [{ address: Buffer.from([10, 0, 0, 0]), length: 8 }],
                serviceAccounts: [{ namespace: 'a', serviceAccount: 'b' }],
              },
            ],
          },
        ],
      },
    ],
  };
  const at = decode(
    'istio.security.Authorization',
    'istio/security/authorization.proto',
    wire.Authorization.encode(wire.Authorization.fromObject(authz)).finish(),
  );
  t.match(at, /scope: WORKLOAD_SELECTOR/);
  t.match(at, /action: DENY/);
  t.match(at, /not_principals \{\s+presence \{\s+\}\s+\}/);
  t.match(at, /destination_ports: 9090/);
  t.match(at, /serviceAccount: "b"/);
  t.match(at, /length: 8/);
});

t.test('hand-assembled DeltaDiscoveryResponse (shared resource frames) decodes with protoc', async (t) => {
  const value = wire.Address.encode(wire.Address.fromObject({ workload: { uid: 'u1', name: 'n' } })).finish();
  const version = contentVersion('u1', value);
  const frame = encodeResourceFrame('u1', version, TYPE_ADDRESS, value);
  const resp = encodeDeltaResponse({
    typeUrl: TYPE_ADDRESS,
    nonce: 'n-1',
    systemVersionInfo: '7',
    frames: [frame, frame],
    removed: ['gone/1', 'gone/2'],
  });
  const text = decode(
    'envoy.service.discovery.v3.DeltaDiscoveryResponse',
    'envoy/service/discovery/v3/discovery.proto',
    resp,
  );
  t.match(text, /system_version_info: "7"/);
  t.match(text, new RegExp(`name: "u1"`));
  t.match(text, new RegExp(`version: "${version}"`));
  t.match(text, /type_url: "type.googleapis.com\/istio.workload.Address"/);
  t.match(text, /nonce: "n-1"/);
  t.match(text, /removed_resources: "gone\/1"\s+removed_resources: "gone\/2"/);
  t.equal(text.match(/resources \{/g)?.length, 2);
  // protobufjs agrees with protoc on the same bytes.
  const back = wire.DeltaDiscoveryResponse.decode(resp) as unknown as {
    resources: { name: string; resource: { value: Uint8Array } }[];
  };
  t.equal(back.resources[0]!.name, 'u1');
  t.same(Buffer.from(back.resources[0]!.resource.value), Buffer.from(value));
});

t.test('resource frames with multi-byte lengths and UTF-8 names decode with protoc', async (t) => {
  // Sizes straddling the 1/2/3-byte varint boundaries of every nested length.
  for (const size of [0, 100, 127, 128, 16_000, 16_383, 16_384, 70_000]) {
    const value = Buffer.alloc(size, 0x61);
    const name = `ns-ü/${'w'.repeat(size % 300)}-${size}`;
    const frame = encodeResourceFrame(name, `v${size}`, TYPE_ADDRESS, value);
    const resp = encodeDeltaResponse({ typeUrl: TYPE_ADDRESS, nonce: 'n', frames: [frame], removed: [] });
    const text = decode(
      'envoy.service.discovery.v3.DeltaDiscoveryResponse',
      'envoy/service/discovery/v3/discovery.proto',
      resp,
    );
    t.match(text, new RegExp(`version: "v${size}"`), `${size}: version`);
    const back = wire.DeltaDiscoveryResponse.decode(resp) as unknown as {
      resources: { name: string; version: string; resource: { value: Uint8Array } }[];
    };
    t.equal(back.resources[0]!.name, name, `${size}: UTF-8 name`);
    t.match(text, /type_url: "type.googleapis.com\/istio.workload.Address"/, `${size}: type_url`);
    t.equal(back.resources[0]!.resource.value.length, size, `${size}: value length`);
  }
});

t.test('a shared response body plus a per-stream nonce decodes with protoc like the one-shot encoding', async (t) => {
  const value = wire.Address.encode(wire.Address.fromObject({ workload: { uid: 'u2', name: 'm' } })).finish();
  const frame = encodeResourceFrame('u2', contentVersion('u2', value), TYPE_ADDRESS, value);
  const parts = { typeUrl: TYPE_ADDRESS, systemVersionInfo: '9', frames: [frame], removed: ['gone/3'] };
  const body = encodeDeltaResponseBody(parts);
  const pristine = Buffer.from(body);
  const longNonce = 'x'.repeat(200); // > 127 bytes: a two-byte length varint
  for (const nonce of ['17-3', longNonce]) {
    const shared = withNonce(body, nonce);
    const oneShot = encodeDeltaResponse({ ...parts, nonce });
    const text = decode(
      'envoy.service.discovery.v3.DeltaDiscoveryResponse',
      'envoy/service/discovery/v3/discovery.proto',
      shared,
    );
    t.match(text, new RegExp(`nonce: "${nonce}"`));
    t.match(text, /removed_resources: "gone\/3"/);
    t.match(text, /system_version_info: "9"/);
    t.equal(text.match(/resources \{/g)?.length, 1);
    t.same(
      wire.DeltaDiscoveryResponse.toObject(wire.DeltaDiscoveryResponse.decode(shared)),
      wire.DeltaDiscoveryResponse.toObject(wire.DeltaDiscoveryResponse.decode(oneShot)),
      'same message as the one-shot encoding',
    );
  }
  t.same(body, pristine, 'appending a nonce copies; the shared body is untouched');
});

t.test('a protoc-encoded DeltaDiscoveryRequest (ztunnel NACK shape) decodes with our codec', async (t) => {
  const text =
    `type_url: "${TYPE_ADDRESS}"\nresponse_nonce: "abc"\nerror_detail { message: "u1: bad" }\n` +
    'initial_resource_versions { key: "a" value: "v1" }\n' +
    'node { id: "ztunnel~1.1.1.1~p.ns~ns.svc.cluster.local" ' +
    'metadata { fields { key: "NAMESPACE" value { string_value: "istio-system" } } } }\n';
  const bytes = execFileSync(
    'protoc',
    [
      `-I${wire.protoDir}`,
      '--encode=envoy.service.discovery.v3.DeltaDiscoveryRequest',
      'envoy/service/discovery/v3/discovery.proto',
    ],
    { input: text },
  );
  const req = decodeDeltaRequest(wire.DeltaDiscoveryRequest, bytes);
  t.equal(req.typeUrl, TYPE_ADDRESS);
  t.equal(req.responseNonce, 'abc');
  t.same(req.errorDetail, { code: 0, message: 'u1: bad' }, 'NACK with code 0 is still a NACK');
  t.equal(req.initialResourceVersions.get('a'), 'v1');
  t.equal(req.node!.metadata.NAMESPACE, 'istio-system');
});

t.test(
  'the hand-written request decoder agrees with protobufjs on random valid requests and rejects truncations',
  async (t) => {
    let seed = 42;
    const rnd = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    const str = (): string => (rnd() < 0.1 ? '' : `n${Math.floor(rnd() * 1e6)}/é${Math.floor(rnd() * 100)}`);
    for (let i = 0; i < 300; i++) {
      const o: Record<string, unknown> = { typeUrl: rnd() < 0.9 ? TYPE_ADDRESS : '' };
      if (rnd() < 0.3) o.node = { id: str(), metadata: { fields: { NAMESPACE: { stringValue: str() } } } };
      if (rnd() < 0.5) o.resourceNamesSubscribe = Array.from({ length: Math.floor(rnd() * 5) }, str);
      if (rnd() < 0.3) o.resourceNamesUnsubscribe = Array.from({ length: Math.floor(rnd() * 3) }, str);
      if (rnd() < 0.5)
        o.initialResourceVersions = Object.fromEntries(
          Array.from({ length: Math.floor(rnd() * 20) }, () => [str(), str()]),
        );
      if (rnd() < 0.5) o.responseNonce = str();
      if (rnd() < 0.2) o.errorDetail = { code: 0, message: str() };
      const bytes = wire.DeltaDiscoveryRequest.encode(wire.DeltaDiscoveryRequest.fromObject(o)).finish();
      const fast = decodeDeltaRequest(wire.DeltaDiscoveryRequest, bytes);
      const slow = decodeDeltaRequestSlow(wire.DeltaDiscoveryRequest, bytes);
      t.same(
        { ...fast, initialResourceVersions: fast.initialResourceVersions.toMap() },
        { ...slow, initialResourceVersions: slow.initialResourceVersions.toMap() },
        `case ${i}`,
      );
      if (bytes.length > 2)
        t.throws(
          () => decodeDeltaRequest(wire.DeltaDiscoveryRequest, bytes.subarray(0, bytes.length - 1)),
          `truncated case ${i}`,
        );
    }
  },
);

t.test(
  "contentVersion is the first 16 hex digits of SHA-256 (openssl as oracle) of Any.value's and Resource.name's fields",
  async (t) => {
    const value = wire.Address.encode(
      wire.Address.fromObject({ workload: { uid: 'u1', name: 'n', namespace: 'ns' } }),
    ).finish();
    const name = 'Kubernetes//Pod/ns/n';
    // Any.value (field 2, length-delimited) then Resource.name (field 3): tag, one-byte length, bytes.
    const covered = Buffer.concat([
      Buffer.from([0x12, value.length]),
      value,
      Buffer.from([0x1a, name.length]),
      Buffer.from(name),
    ]);
    const sha = (b: Buffer): string =>
      execFileSync('openssl', ['dgst', '-sha256', '-r'], { input: b }).toString().split(' ')[0]!;
    const hex = sha(covered);
    t.match(hex, /^[0-9a-f]{64}$/);
    t.equal(contentVersion(name, value), hex.slice(0, 16));
    t.not(contentVersion(name, value), sha(Buffer.from(value)).slice(0, 16), 'not the hash of the body alone');
    t.not(contentVersion('Kubernetes//Pod/ns/m', value), contentVersion(name, value), 'the same body, another name');
  },
);

t.test('the generated encoders write the rich messages above exactly as protoc re-encodes them', async (t) => {
  const workload = {
    uid: 'Kubernetes//Pod/default/a',
    name: 'a',
    addresses: [Buffer.from([10, 0, 0, 1])],
    tunnelProtocol: 1,
    networkGateway: { address: { network: 'net2', address: Buffer.from([192, 168, 1, 1]) }, hboneMtlsPort: 15008 },
    services: { 'default/s.default.svc.cluster.local': { ports: [{ servicePort: 80, targetPort: 8080 }] } },
    authorizationPolicies: ['default/p'],
    status: 1,
    locality: { region: 'r', zone: 'z' },
    capacity: { value: 32 },
    workloadType: 2,
  };
  const service = {
    name: 's',
    hostname: 's.default.svc.cluster.local',
    addresses: [{ address: Buffer.from([10, 96, 0, 1]), length: 0 }],
    ports: [{ servicePort: 80, appProtocol: 1 }],
    loadBalancing: { routingPreference: [6, 1], mode: 2, healthPolicy: 1 },
    canonical: true,
    subjectAltNames: ['spiffe://td/ns/x/sa/y'],
  };
  const match = {
    notPrincipals: [{ presence: {} }, { exact: '' }],
    destinationPorts: [9090, 1],
    sourceIps: [{ address: Buffer.from([10, 0, 0, 0]), length: 8 }],
    serviceAccounts: [{ namespace: 'a', serviceAccount: 'b' }],
  };
  const rich: [string, string, object][] = [
    ['istio.workload.Address', 'istio/workload/workload.proto', { workload }],
    ['istio.workload.Address', 'istio/workload/workload.proto', { service }],
    [
      'istio.security.Authorization',
      'istio/security/authorization.proto',
      { name: 'p', scope: 2, action: 1, rules: [{ clauses: [{ matches: [match] }] }] },
    ],
  ];
  for (const [type, file, msg] of rich) {
    const ours = encodeMessage(CODECS[type as keyof typeof CODECS], msg);
    const text = decode(type, file, ours);
    const back = execFileSync('protoc', [`-I${wire.protoDir}`, `--encode=${type}`, file], { input: text });
    t.same(back, ours, `${type}: protoc's bytes`);
    t.same(ours, Buffer.from(wire.type(type).encode(msg).finish()), `${type}: protobufjs's bytes`);
  }
});
