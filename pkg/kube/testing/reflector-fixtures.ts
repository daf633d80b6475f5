// The reflector tests' shared fixtures: a pod object with fields the slimmer drops, and a reflector over a
// fake API server with fast backoff, torn down with the test.
import { Registry } from 'prom-client';
import { KubeClient } from '../client';
import { KINDS, type KindSpec } from '../kinds';
import { createKubeMetrics } from '../metrics';
import { Reflector } from '../reflector';
import { FakeApiServer } from './fake-apiserver';
import { captureLogger, RecordingSink } from './recording-sink';

export const PODS = '/api/v1/pods';
export const pod = (name: string, ip: string, extra: Record<string, unknown> = {}) => ({
  kind: 'Pod',
  apiVersion: 'v1',
  metadata: {
    name,
    namespace: 'default',
    uid: `uid-${name}`,
    labels: { app: name },
    managedFields: [{ manager: 'kubectl', fieldsV1: { big: 'x'.repeat(200) } }],
    annotations: { keep: 'me', 'kubectl.kubernetes.io/last-applied-configuration': '{"huge":true}' },
  },
  spec: {
    nodeName: 'n1',
    serviceAccountName: 'sa',
    containers: [{ name: 'c', image: 'img', ports: [{ containerPort: 80 }], env: [{ name: 'A', value: 'B' }] }],
    volumes: [{ name: 'v' }],
  },
  status: { podIP: ip, podIPs: [{ ip }], phase: 'Running', containerStatuses: [{ name: 'c' }] },
  ...extra,
});

type Teardown = { teardown(fn: () => unknown): void };

export async function setup(t: Teardown, kind: KindSpec = KINDS.Pod!, tune: Record<string, unknown> = {}) {
  const fake = new FakeApiServer();
  await fake.start();
  const api = new KubeClient({ server: fake.url, source: 'test' });
  const sink = new RecordingSink();
  const cap = captureLogger();
  const registry = new Registry();
  const metrics = createKubeMetrics(registry);
  const r = new Reflector({
    api,
    kind,
    sink,
    logger: cap.logger,
    metrics,
    pageSize: 3,
    backoff: { initialMs: 20, maxMs: 200 },
    random: () => 0.5,
    ...tune,
  });
  t.teardown(async () => {
    await r.close();
    api.close();
    await fake.close();
  });
  return { fake, api, sink, r, cap, registry };
}
