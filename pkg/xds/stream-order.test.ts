import t from 'tap';
import { Registry } from 'prom-client';
import { systemClock } from '../lifecycle';
import { createSilentLogger } from '../log';
import {
  decodeDeltaRequest,
  decodeDeltaResponse,
  joinParts,
  loadWire,
  TYPE_ADDRESS,
  TYPE_AUTHORIZATION,
  type FramePart,
} from '../wire';
import { entryFromBytes, ResourceCache } from './cache';
import { createXdsMetrics } from './metrics';
import { XdsStream } from './stream';

// A flush answers the stream's types in the server's push order (typeOrder: Address before Authorization, so a
// policy never names a workload the client does not hold yet), whatever order the client subscribed them in.
const wire = loadWire();
const REQ = wire.DeltaDiscoveryRequest;
const request = (typeUrl: string): ReturnType<typeof decodeDeltaRequest> =>
  decodeDeltaRequest(REQ, Buffer.from(REQ.encode(REQ.fromObject({ typeUrl, resourceNamesSubscribe: ['*'] })).finish()));

t.test('each flush sends the types in typeOrder, not in the order they were subscribed', (t) => {
  const cache = new ResourceCache();
  const commit = (tag: string): void => {
    cache.commit([
      { typeUrl: TYPE_AUTHORIZATION, upserts: [entryFromBytes(TYPE_AUTHORIZATION, 'ns/p', Buffer.from(tag))] },
      { typeUrl: TYPE_ADDRESS, upserts: [entryFromBytes(TYPE_ADDRESS, 'ns/w', Buffer.from(tag))] },
    ]);
  };
  commit('a');
  const sent: string[] = [];
  const sink = {
    write(buf: Buffer | readonly FramePart[], done: () => void): void {
      sent.push(decodeDeltaResponse(wire, Buffer.isBuffer(buf) ? buf : joinParts(buf)).typeUrl);
      done();
    },
    close(): void {
      t.fail('the stream was closed');
    },
  };
  const s = new XdsStream({
    id: 's',
    cache,
    sink,
    logger: createSilentLogger(),
    clock: systemClock,
    metrics: createXdsMetrics(new Registry()),
    typeOrder: [TYPE_ADDRESS, TYPE_AUTHORIZATION],
  });
  s.onRequest(request(TYPE_AUTHORIZATION));
  s.onRequest(request(TYPE_ADDRESS));
  s.flush();
  t.same(sent, [TYPE_ADDRESS, TYPE_AUTHORIZATION], 'first responses');
  for (const tag of ['b', 'c']) {
    sent.length = 0;
    commit(tag);
    s.flush();
    t.same(sent, [TYPE_ADDRESS, TYPE_AUTHORIZATION], `after commit ${tag}`);
  }
  s.dispose();
  t.end();
});
