import t from 'tap';
import * as http2 from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { TYPE_ADDRESS, TYPE_AUTHORIZATION, joinParts, type Wire } from '../../pkg/wire';
import { ADS_DELTA_PATH } from '../../pkg/xds';
import { MessageReader, TLS13_CIPHERS } from '../../pkg/transport';
import { waitFor } from '../../pkg/lifecycle';
import { startXdsFixture, type XdsFixture } from '../harness/xds-fixture';

/**
 * The fan-out write path (XdsStream.sendShared → MessageWriter.writeFramed): a caught-up wildcard stream's
 * response is one buffer — room for the gRPC prefix, the body shared by every stream, this stream's nonce —
 * filled in place and handed to HTTP/2. Checked over real TLS sockets against grpc-js (an independent gRPC
 * framing implementation) and against a raw node:http2 client that stops reading.
 */

const A = TYPE_ADDRESS;
const Z = TYPE_AUTHORIZATION;
const raw = (b: Buffer): Buffer => b;

interface Decoded {
  typeUrl: string;
  nonce: string;
  systemVersionInfo: string;
  removedResources: string[];
  resources: { name: string; version: string; resource?: { typeUrl: string; value: Uint8Array } }[];
}

const decode = (wire: Wire, b: Buffer): Decoded => wire.DeltaDiscoveryResponse.decode(b) as unknown as Decoded;

function request(wire: Wire, o: Record<string, unknown>): Buffer {
  const w = wire.DeltaDiscoveryRequest;
  return Buffer.from(w.encode(w.fromObject(o)).finish());
}

const node = { id: 'ztunnel~1.1.1.1~zt.istio-system~istio-system.svc.cluster.local' };

/** A wildcard ADS stream on grpc-js keeping every response's raw bytes, ACKing each. */
function rawGrpcClient(t: { teardown(fn: () => unknown): void }, f: XdsFixture): { got: Buffer[] } {
  const c = new grpc.Client(`127.0.0.1:${f.port}`, grpc.credentials.createSsl(Buffer.from(f.pki.rootCertPem)), {
    'grpc.ssl_target_name_override': 'localhost',
    'grpc.max_receive_message_length': 16 << 20,
  });
  t.teardown(() => c.close());
  const call = c.makeBidiStreamRequest(ADS_DELTA_PATH, raw, raw, new grpc.Metadata());
  call.on('error', () => undefined);
  const got: Buffer[] = [];
  call.on('data', (b: Buffer) => {
    got.push(b);
    const r = decode(f.wire, b);
    call.write(request(f.wire, { typeUrl: r.typeUrl, responseNonce: r.nonce }));
  });
  for (const typeUrl of [A, Z]) call.write(request(f.wire, { node, typeUrl }));
  t.teardown(() => call.cancel());
  return { got };
}

t.test('fan-out: every grpc-js stream gets the shared body and its own nonce, byte for byte', async (t) => {
  const f = await startXdsFixture();
  t.teardown(() => f.close());
  f.cache.commit([{ typeUrl: A, upserts: [f.workload('u/a', '10.0.0.1'), f.workload('u/b', '10.0.0.2')] }]);
  const clients = [0, 1, 2, 3].map(() => rawGrpcClient(t, f));
  await waitFor(() => clients.every((c) => c.got.length >= 2), { timeoutMs: 10_000, what: 'initial responses' });
  // Sizes from a few bytes to more than one HTTP/2 DATA frame (16 KiB) and more than one TLS record.
  const sizes = [0, 1, 200, 4000, 5000, 20_000, 70_000];
  // A commit of two changes goes through the fan-out memo (one body shared, each stream's nonce last); a commit of
  // one change to a caught-up stream is answered from the commit itself (XdsStream.sendOne: head, then the frame).
  for (const shared of [true, false]) {
    for (const [i, size] of sizes.entries()) {
      const before = clients.map((c) => c.got.length);
      const entry = f.workload(`u/c${i}-${shared}`, `10.0.1.${i}`, { name: 'x'.repeat(size) });
      const also = shared ? [f.workload(`u/d${i}`, `10.0.2.${i}`)] : [];
      const removes = i === 0 && shared ? ['u/b'] : [];
      f.cache.commit([{ typeUrl: A, upserts: [entry, ...also], removes }]);
      await waitFor(() => clients.every((c, k) => c.got.length > before[k]!), { timeoutMs: 10_000, what: `push ${i}` });
      const msgs = clients.map((c, k) => c.got[before[k]!]!);
      const dec = msgs.map((m) => decode(f.wire, m));
      // The cache entry is DeltaDiscoveryResponse field 2 as encoded once: decoded alone, it is the expected resource.
      const frame = joinParts([entry]);
      const expected = decode(f.wire, joinParts([entry, ...also])).resources;
      for (const [k, d] of dec.entries()) {
        t.equal(d.typeUrl, A);
        t.equal(d.systemVersionInfo, String(f.cache.seq));
        t.same(d.resources, expected, 'the resources, name, version and body');
        t.same(d.removedResources, removes);
        t.ok(msgs[k]!.includes(frame), 'the entry bytes as the cache holds them');
      }
      t.equal(new Set(dec.map((d) => d.nonce)).size, clients.length, 'one nonce per stream');
      if (!shared) {
        for (const m of msgs) t.ok(m.subarray(m.length - frame.length).equals(frame), `size ${size}: the frame last`);
        continue;
      }
      // The message is the shared body followed by field 5 (the nonce): strip it and every stream's bytes agree.
      const bodies = msgs.map((m, k) => {
        const n = Buffer.byteLength(dec[k]!.nonce);
        t.same([...m.subarray(m.length - n - 2, m.length - n)], [0x2a, n], 'nonce field last');
        return m.subarray(0, m.length - n - 2);
      });
      for (const b of bodies) t.ok(b.equals(bodies[0]!), `size ${size}: shared body identical on every stream`);
    }
  }
});

t.test('a stream that stops reading holds one response in flight (flow control); it then catches up', async (t) => {
  const f = await startXdsFixture();
  t.teardown(() => f.close());
  f.cache.commit([{ typeUrl: A, upserts: [f.workload('u/a', '10.0.0.1')] }]);
  const fast = rawGrpcClient(t, f);
  // A reader with a 2 KiB stream window: once 2 KiB are unread the server may send it nothing more (RFC 9113 §6.9).
  const session = http2.connect(`https://127.0.0.1:${f.port}`, {
    ca: f.pki.rootCertPem,
    servername: 'localhost',
    minVersion: 'TLSv1.3',
    ciphers: TLS13_CIPHERS,
    settings: { initialWindowSize: 2048 },
  });
  session.on('error', () => undefined);
  t.teardown(() => session.destroy());
  const headers = { ':method': 'POST', ':path': ADS_DELTA_PATH, 'content-type': 'application/grpc', te: 'trailers' };
  const st = session.request(headers);
  st.on('error', () => undefined);
  const slow: Decoded[] = [];
  const reader = new MessageReader({ check: () => true, message: (m) => slow.push(decode(f.wire, Buffer.from(m))) });
  st.on('data', (chunk: Buffer) => reader.push(chunk));
  const slowNode = { id: 'ztunnel~1.1.1.2~slow.istio-system~istio-system.svc.cluster.local' };
  for (const typeUrl of [A, Z]) st.write(grpcMessage(request(f.wire, { node: slowNode, typeUrl })));
  await waitFor(() => slow.length >= 2 && fast.got.length >= 2, { timeoutMs: 10_000, what: 'initial responses' });
  st.pause();
  const slowStatus = (): { pendingWrite: boolean } | undefined => f.xds.status().find((s) => s.nodeId === slowNode.id);
  // 30 changes of ~1 KiB each, each committed once the fast stream has the previous one.
  const changes = 30;
  for (let i = 0; i < changes; i++) {
    const before = fast.got.length;
    f.cache.commit([{ typeUrl: A, upserts: [f.workload(`u/n${i}`, `10.0.2.${i}`, { name: 'y'.repeat(1000) })] }]);
    await waitFor(() => fast.got.length > before, { timeoutMs: 10_000, what: `fast stream got change ${i}` });
  }
  await waitFor(() => slowStatus()?.pendingWrite === true, { timeoutMs: 10_000, what: 'slow stream write pending' });
  const whilePaused = slow.length;
  t.ok(whilePaused - 2 < changes, `the paused stream got ${whilePaused - 2} of ${changes} responses meanwhile`);
  t.equal(slowStatus()?.pendingWrite, true, 'one response in flight: the server queues nothing more for it');
  st.resume();
  const names = (): Set<string> => new Set(slow.flatMap((r) => r.resources.map((x) => x.name)));
  await waitFor(() => Array.from({ length: changes }, (_, i) => `u/n${i}`).every((n) => names().has(n)), {
    timeoutMs: 10_000,
    what: 'slow stream caught up',
  });
  const after = slow.slice(2).filter((r) => r.typeUrl === A).length;
  t.ok(after < changes, `caught up in ${after} Address responses for ${changes} changes (coalesced)`);
  t.equal(fast.got.filter((b) => decode(f.wire, b).typeUrl === A).length, changes + 1, 'the fast stream got each');
});

function grpcMessage(m: Buffer): Buffer {
  const p = Buffer.alloc(5);
  p.writeUInt32BE(m.length, 1);
  return Buffer.concat([p, m]);
}
