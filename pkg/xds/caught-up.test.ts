import t, { type Test } from 'tap';
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
  type DeltaResponse,
  type FramePart,
} from '../wire';
import { entryFromBytes, ResourceCache, type TypeCommit } from './cache';
import { createXdsMetrics } from './metrics';
import { XdsStream } from './stream';

/**
 * A caught-up wildcard type takes its responses straight from the cache's change log (diff.ts caughtUpWildcard);
 * a stream that named every resource explicitly takes the general path. Both must tell their client the same
 * thing after any sequence of commits, and each response must keep the delta-xDS rules
 * (docs/design/delta-xds-rules.md): no name twice (rule 15), never both sent and removed, and what the client
 * holds after applying it equals the cache.
 */
const wire = loadWire();
const REQ = wire.DeltaDiscoveryRequest;
const TYPES = [TYPE_ADDRESS, TYPE_AUTHORIZATION];
const NAMES = Array.from({ length: 24 }, (_, i) => `ns/r${i}`);
const logger = createSilentLogger();
const metrics = createXdsMetrics(new Registry());

const request = (o: Record<string, unknown>): ReturnType<typeof decodeDeltaRequest> =>
  decodeDeltaRequest(REQ, Buffer.from(REQ.encode(REQ.fromObject(o)).finish()));

/**
 * A stream over the cache whose client applies every response as ztunnel does and checks each. `headroom`: the
 * sink also takes whole responses built behind that many bytes of prefix room (writeFramed, as the transport does).
 */
function client(t: Test, cache: ResourceCache, id: string, subscribe: string[], headroom?: number) {
  const held = new Map<string, Map<string, string>>(TYPES.map((u) => [u, new Map()]));
  const responses: DeltaResponse[] = [];
  const raw: Buffer[] = [];
  const wholes = { count: 0 };
  const sink = {
    write(buf: Buffer | readonly FramePart[], done: () => void): void {
      const bytes = Buffer.isBuffer(buf) ? buf : joinParts(buf);
      raw.push(bytes);
      const r = decodeDeltaResponse(wire, bytes);
      responses.push(r);
      const seen = new Set<string>();
      for (const n of [...r.resources.map((x) => x.name), ...r.removedResources]) {
        if (seen.has(n)) t.fail(`${id}: ${n} twice in one response (rule 15)`);
        seen.add(n);
      }
      const h = held.get(r.typeUrl)!;
      for (const x of r.resources) h.set(x.name, x.version);
      for (const n of r.removedResources) h.delete(n);
      done();
    },
    close(code: number, details: string): void {
      t.fail(`${id} closed: ${code} ${details}`);
    },
  };
  const framed =
    headroom === undefined
      ? sink
      : {
          ...sink,
          headroom,
          writeFramed(frame: Buffer, done: () => void): void {
            wholes.count++;
            sink.write(frame.subarray(headroom), done);
          },
        };
  const stream = new XdsStream({ id, cache, sink: framed, logger, clock: systemClock, metrics, typeOrder: TYPES });
  for (const typeUrl of TYPES) stream.onRequest(request({ typeUrl, resourceNamesSubscribe: subscribe }));
  return { stream, held, responses, raw, wholes };
}

/** What the cache holds, per type, as name -> version. */
function contents(cache: ResourceCache): Map<string, Map<string, string>> {
  return new Map(TYPES.map((u) => [u, new Map([...cache.entries(u)].map((e) => [e.name, e.version]))]));
}

/** Deterministic pseudo-random numbers (xorshift32), so a failure replays. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

t.test('caught-up wildcard responses equal the general path and leave the client holding the cache', (t) => {
  const cache = new ResourceCache({ maxTombstones: 1_000 });
  let version = 0;
  const put = (typeUrl: string, name: string): TypeCommit => ({
    typeUrl,
    upserts: [entryFromBytes(typeUrl, name, Buffer.from(`${name}@${++version}`), [`alias/${name}`])],
  });
  cache.commit(TYPES.flatMap((u) => NAMES.slice(0, 12).map((n) => put(u, n))));
  const wild = client(t, cache, 'wild', ['*']);
  const named = client(t, cache, 'named', NAMES);
  // The same stream id (so the same nonces) through a sink taking whole responses behind prefix room.
  const framed = client(t, cache, 'wild', ['*'], 5);
  const flush = (): void => {
    wild.stream.flush();
    named.stream.flush();
    framed.stream.flush();
  };
  flush();
  const rand = rng(20);
  const pick = (): string => NAMES[Math.floor(rand() * NAMES.length)]!;
  const type = (): string => TYPES[Math.floor(rand() * TYPES.length)]!;
  // Enough commits to compact the log several times (a type's log is compacted past 2 x live + 1,024 records).
  for (let step = 0; step < 6_000; step++) {
    const r = rand();
    const u = type();
    const n = pick();
    if (r < 0.45) cache.commit([put(u, n)]);
    else if (r < 0.6) cache.commit([{ typeUrl: u, removes: [n] }]);
    // Removed and re-added in one commit: the client gets the new version, not a removal.
    else if (r < 0.7) cache.commit([{ typeUrl: u, removes: [n] }, put(u, n)]);
    // Removed, re-added and removed again in one commit: one removal (two current tombstone records).
    else if (r < 0.75) cache.commit([{ typeUrl: u, removes: [n] }, put(u, n), { typeUrl: u, removes: [n] }]);
    // Both types in one commit.
    else if (r < 0.85) cache.commit([put(TYPES[0]!, n), put(TYPES[1]!, pick())]);
    // A name changed twice in one commit: only the newer version is sent.
    else cache.commit([put(u, n), put(u, n)]);
    // Flush after one change mostly; sometimes only after many (the cursor then spans many commits).
    if (rand() < 0.7 || step % 97 === 0) flush();
    if (step % 50 === 0) {
      flush();
      t.same(wild.held, contents(cache), `step ${step}: the wildcard client holds what the cache holds`);
    }
  }
  flush();
  const want = contents(cache);
  t.same(wild.held, want, 'wildcard client == cache');
  t.same(named.held, want, 'explicit client == cache');
  // The general path answers its explicit names' first request with removals for absent names (rule 13): from
  // the second response of each type on, both streams must have been told the same, response by response.
  const later = (rs: DeltaResponse[]): string[] =>
    rs
      .filter((r, i) => rs.findIndex((x) => x.typeUrl === r.typeUrl) !== i)
      .map(
        (r) =>
          `${r.typeUrl} +${r.resources.map((x) => `${x.name}@${x.version}`).join(',')} ` +
          `-${[...r.removedResources].sort().join(',')}`,
      );
  t.same(later(wild.responses), later(named.responses), 'the same changes, in the same responses');
  t.equal(framed.wholes.count, framed.raw.length, 'every (small) response went out built whole');
  t.equal(framed.raw.length, wild.raw.length, 'as many responses built whole as in parts');
  t.ok(
    framed.raw.every((b, i) => b.equals(wild.raw[i]!)),
    'responses built whole behind prefix room are byte for byte the ones sent in parts',
  );
  t.ok(wild.responses.length > 1_000, `many responses compared (${wild.responses.length})`);
  t.end();
});

t.test('one change after many: a caught-up wildcard client gets exactly that resource', (t) => {
  const cache = new ResourceCache();
  const commits: TypeCommit[] = NAMES.map((n) => ({
    typeUrl: TYPE_ADDRESS,
    upserts: [entryFromBytes(TYPE_ADDRESS, n, Buffer.from(n))],
  }));
  for (const c of commits) cache.commit([c]);
  const wild = client(t, cache, 'one', ['*']);
  wild.stream.flush();
  const first = wild.responses.find((r) => r.typeUrl === TYPE_ADDRESS)!;
  t.equal(first.resources.length, NAMES.length, 'the first response carries everything');
  const before = wild.responses.length;
  cache.commit([{ typeUrl: TYPE_ADDRESS, upserts: [entryFromBytes(TYPE_ADDRESS, 'ns/r3', Buffer.from('changed'))] }]);
  wild.stream.flush();
  const next = wild.responses.slice(before);
  t.equal(next.length, 1, 'one response');
  t.same(
    next[0]!.resources.map((r) => r.name),
    ['ns/r3'],
  );
  t.same(next[0]!.removedResources, []);
  t.equal(next[0]!.systemVersionInfo, String(cache.seq), 'system_version_info is the cache seq');
  t.not(next[0]!.nonce, first.nonce, 'a new nonce (rule 16)');
  wild.stream.flush();
  t.equal(wild.responses.length, before + 1, 'nothing more to send');
  t.end();
});
