/**
 * ambientd's side of the istiod scenario, in its own process: the same mesh
 * shape as istiod's `serviceentry-workloadentry` benchmark (bench/lib/istiod-shape.ts),
 * measured only through the public module APIs (pkg/registry, pkg/translate,
 * pkg/push Encoder, pkg/xds ResourceCache + XdsStream, pkg/ca Authority), so
 * an optimisation inside any of them shows up here unchanged.
 *
 * Usage: node dist/bench/sim/istiod-equiv.js '{"minMs":500}'  → one JSON object on stdout.
 * Each figure: wall µs per operation (the loop's elapsed time / operations, like
 * Go's ns/op) and process CPU µs per operation (process.cpuUsage over the same loop).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Registry } from 'prom-client';
import { Authority } from '../../pkg/ca';
import { systemClock } from '../../pkg/lifecycle';
import { createSilentLogger } from '../../pkg/log';
import { Encoder, fullDelta, pick } from '../../pkg/push';
import { LocalRegistry, type ChangeSet } from '../../pkg/registry';
import { generateLocal, type MeshContext } from '../../pkg/translate';
import { decodeDeltaRequest, loadWire, TYPE_ADDRESS, type FramePart } from '../../pkg/wire';
import { createXdsMetrics, ResourceCache, XdsStream, type CacheEntry } from '../../pkg/xds';
import { createCsr, createSigner, generateKeyPair } from '../../pkg/x509';
import { ISTIOD_SHAPE, istiodShapeObjects, workloadEntry, instanceIp } from '../lib/istiod-shape';
import { serveSetup } from '../lib/serve-one-setup';

export interface OpFigure {
  wallUs: number;
  cpuUs: number;
  ops: number;
}
export interface EquivResult {
  addresses: number;
  responseBytes: number;
  oneResponseBytes: number;
  translate: OpFigure;
  encodeAll: OpFigure;
  serveFull: OpFigure;
  serveOne: OpFigure;
  /** What serve-one cannot go below in Node: one Map.set of the changed entry + one response buffer to the sink. */
  serveOneFloor: OpFigure;
  changePath: OpFigure;
  signRsa2048: OpFigure;
  signP256: OpFigure;
}

/**
 * Runs `fn` (after a warm-up) until at least `minMs` have passed; per-operation wall and CPU time (CPU of every
 * thread of the process). An operation that returns a promise is awaited before the next one starts.
 */
async function measure(minMs: number, fn: () => void | Promise<void>): Promise<OpFigure> {
  // Warm-up: JIT and caches, at least 5 operations and a quarter of the budget (capped at 300 ms).
  const warmEnd = performance.now() + Math.min(300, minMs / 4);
  let isAsync = false;
  for (let i = 0; i < 5 || performance.now() < warmEnd; i++) {
    const pending = fn();
    if (pending) {
      isAsync = true;
      await pending;
    }
  }
  let ops = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let batch = 1;
  while (performance.now() - t0 < minMs) {
    // A synchronous operation runs in a loop with nothing else in it (sub-microsecond figures are measured here).
    if (isAsync) for (let i = 0; i < batch; i++) await fn();
    else for (let i = 0; i < batch; i++) void fn();
    ops += batch;
    batch = Math.min(batch * 2, 1024);
  }
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return { wallUs: (wall * 1000) / ops, cpuUs: (cpu.user + cpu.system) / ops, ops };
}

const mesh: MeshContext = {
  clusterId: 'Kubernetes',
  network: '',
  trustDomain: 'cluster.local',
  domainSuffix: 'cluster.local',
  rootNamespace: 'istio-system',
};

async function main(): Promise<void> {
  const cfg = JSON.parse(process.argv[2] ?? '{}') as { minMs?: number };
  const minMs = cfg.minMs ?? 500;
  const logger = createSilentLogger();
  const wire = loadWire();
  const reg = new LocalRegistry({ logger, clock: systemClock });
  let pending: ChangeSet | undefined;
  reg.onChange((c) => (pending = c));
  reg.replaceSource(
    'bench',
    istiodShapeObjects().map((obj) => ({ obj })),
  );
  const snapshot = reg.snapshot();
  const built = generateLocal({ snapshot, mesh });
  const addresses = built.output.addresses.size;
  if (addresses !== ISTIOD_SHAPE.addresses) {
    throw new Error(`the istiod shape translated to ${addresses} Address resources, want ${ISTIOD_SHAPE.addresses}`);
  }
  const types = new Map([[TYPE_ADDRESS, wire.Address]]);

  // Translate: the registry snapshot into every Address message (full generation).
  const translate = await measure(minMs, () => void generateLocal({ snapshot, mesh }));
  // Encode: every Address through a fresh Encoder (protobuf + content hash + frame).
  let upserts: readonly CacheEntry[] = [];
  const encodeAll = await measure(minMs, () => {
    upserts = new Encoder(wire, types).encode(fullDelta(TYPE_ADDRESS, built.output.addresses)).upserts ?? [];
  });

  const metrics = createXdsMetrics(new Registry());
  let lastBytes = 0;
  const sink = {
    write(buf: Buffer | readonly FramePart[], done: () => void): void {
      // Parts are written back to back by the transport (a response already serialized, not yet joined).
      lastBytes = Buffer.isBuffer(buf) ? buf.length : buf.reduce((n, p) => n + p.length, 0);
      done();
    },
    close(code: number, details: string): void {
      throw new Error(`a measured stream was closed: ${code} ${details}`);
    },
  };
  const { cache, initial, streamOf, name, variants } = serveSetup(
    { push: { Encoder, fullDelta }, wire: { decodeDeltaRequest, TYPE_ADDRESS }, xds: { ResourceCache, XdsStream } },
    { wire, addresses: built.output.addresses, upserts, stream: { sink, logger, clock: systemClock, metrics } },
  );
  // Serve: a new wildcard client gets every pre-built Address in one serialized response.
  let n = 0;
  const serveFull = await measure(minMs, () => {
    const s = streamOf(`full-${n++}`);
    s.onRequest(initial);
    s.flush();
    s.dispose();
  });
  const responseBytes = lastBytes;
  if (responseBytes < addresses * 50) throw new Error(`full response of ${responseBytes} bytes is too small`);

  // Serve one changed workload: two encodings of random-0 committed alternately to a caught-up stream.
  const caught = streamOf('caught-up');
  caught.onRequest(initial);
  caught.flush();
  let flip = 0;
  const serveOne = await measure(minMs, () => {
    cache.commit([{ typeUrl: TYPE_ADDRESS, upserts: [variants[flip++ & 1]!] }]);
    caught.flush();
  });
  caught.dispose();
  const oneResponseBytes = lastBytes;
  // The floor under serve-one here: index the changed entry by name (one Map.set), build one response buffer of the
  // same size (the frame, as plain bytes, copied behind a head's worth of bytes) and hand it to the sink.
  const floorIndex = new Map<string, CacheEntry>();
  const plain = variants.map((e) => e.frame);
  const noop = (): void => undefined;
  const serveOneFloor = await measure(minMs, () => {
    const i = flip++ & 1;
    floorIndex.set(name, variants[i]!);
    const f = plain[i]!;
    const b = Buffer.allocUnsafe(oneResponseBytes);
    b.set(f, oneResponseBytes - f.length);
    sink.write(b, noop);
  });
  if (oneResponseBytes > 4096) throw new Error(`one change sent ${oneResponseBytes} bytes`);

  // The whole per-change path: registry event, incremental generation, encode, commit, respond.
  const encoder = new Encoder(wire, types);
  const c2 = new ResourceCache({});
  c2.commit([encoder.encode(fullDelta(TYPE_ADDRESS, built.output.addresses))]);
  const pathStream = new XdsStream({
    id: 'path',
    cache: c2,
    sink,
    logger,
    clock: systemClock,
    metrics,
    typeOrder: [TYPE_ADDRESS],
  });
  pathStream.onRequest(initial);
  pathStream.flush();
  let prev = built.output;
  let gen = 0;
  const changePath = await measure(minMs, () => {
    const ip = gen++ & 1 ? instanceIp(0) : '240.241.250.250';
    reg.applyEvents('bench', [{ type: 'upsert', obj: workloadEntry('random-0', 'random-0', ip) }]);
    const d = generateLocal({ snapshot: reg.snapshot(), mesh, previous: prev, changes: pending });
    prev = d.output;
    const changed = pick(d.changedAddresses, d.output.addresses);
    c2.commit([encoder.encode({ typeUrl: TYPE_ADDRESS, changed, removed: d.removedAddresses })]);
    pathStream.flush();
  });
  pathStream.dispose();

  // CA sign path, in-process: a ztunnel-shaped P-256 CSR signed by an RSA-2048 and by a P-256 CA key.
  const { privateKey, publicKey } = generateKeyPair('ec-p256');
  const identity = 'spiffe://cluster.local/ns/default/sa/bench';
  const csrPem = createCsr({ publicKey, signer: createSigner(privateKey), uris: [identity] });
  const sign = async (alg: 'rsa-2048' | 'ec-p256'): Promise<OpFigure> => {
    const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), `istiod-equiv-${process.pid}-`));
    try {
      const ca = Authority.open({ stateDir, trustDomain: 'cluster.local', selfSignedKeyAlgorithm: alg, logger });
      return await measure(minMs, async () => void (await ca.sign({ csrPem, identity, ttlSeconds: 3600 })));
    } finally {
      fs.rmSync(stateDir, { recursive: true, force: true });
    }
  };
  const out: EquivResult = {
    addresses,
    responseBytes,
    oneResponseBytes,
    translate,
    encodeAll,
    serveFull,
    serveOne,
    serveOneFloor,
    changePath,
    signRsa2048: await sign('rsa-2048'),
    signP256: await sign('ec-p256'),
  };
  process.stdout.write(JSON.stringify(out));
}

if (require.main === module)
  main().catch((e: unknown) => {
    process.stderr.write(`istiod-equiv: ${e instanceof Error ? e.stack : String(e)}\n`);
    process.exit(1);
  });
