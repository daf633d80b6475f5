import t, { type Test } from 'tap';
import { Registry } from 'prom-client';
import { systemClock } from '../lifecycle';
import { createSilentLogger } from '../log';
import {
  decodeDeltaRequest,
  decodeDeltaResponse,
  encodeDeltaResponse,
  joinParts,
  loadWire,
  TYPE_ADDRESS,
  TYPE_AUTHORIZATION,
  type DeltaResponse,
  type FramePart,
} from '../wire';
import { entryFromBytes, ResourceCache, type TypeCommit } from './cache';
import { SharedResponses } from './fanout';
import { createXdsMetrics } from './metrics';
import { XdsStream, type StreamSink } from './stream';

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
function client(
  t: Test,
  cache: ResourceCache,
  id: string,
  subscribe: string[],
  headroom?: number,
  shared?: SharedResponses,
) {
  const held = new Map<string, Map<string, string>>(TYPES.map((u) => [u, new Map()]));
  const responses: DeltaResponse[] = [];
  const raw: Buffer[] = [];
  const wholes = { count: 0 };
  /** Responses whose bytes differ from the general encoder's for the same fields (the fan-out's order differs). */
  const misencoded: string[] = [];
  const sink = {
    write(buf: Buffer | readonly FramePart[], done: () => void): void {
      const bytes = Buffer.isBuffer(buf) ? buf : joinParts(buf);
      raw.push(bytes);
      const r = decodeDeltaResponse(wire, bytes);
      responses.push(r);
      // Written synchronously inside flush: the cache still holds the entries sent.
      const again = encodeDeltaResponse({
        typeUrl: r.typeUrl,
        nonce: r.nonce,
        systemVersionInfo: r.systemVersionInfo,
        frames: r.resources.map((x) => cache.get(r.typeUrl, x.name)!),
        removed: r.removedResources,
      });
      if (!again.equals(bytes)) misencoded.push(`${r.nonce} ${r.typeUrl}`);
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
  const stream = new XdsStream({
    id,
    cache,
    sink: framed,
    logger,
    clock: systemClock,
    metrics,
    typeOrder: TYPES,
    shared,
  });
  for (const typeUrl of TYPES) stream.onRequest(request({ typeUrl, resourceNamesSubscribe: subscribe }));
  return { stream, held, responses, raw, wholes, misencoded };
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
  // As the server runs them: with the fan-out memo (which a one-change commit's response does not use).
  const fanned = client(t, cache, 'fanned', ['*'], 5, new SharedResponses(cache));
  // Flushed every few commits only: its cursor is rarely the previous seq, so it mostly reads the log.
  const lagging = client(t, cache, 'lagging', ['*']);
  // Flushes whose stream was caught up to the commit before a one-change commit (the path from the commit).
  let soles = 0;
  let flushedAt = cache.seq;
  const flush = (): void => {
    if (flushedAt === cache.seq - 1 && TYPES.some((u) => cache.soleChange(u, flushedAt))) soles++;
    flushedAt = cache.seq;
    wild.stream.flush();
    named.stream.flush();
    framed.stream.flush();
    fanned.stream.flush();
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
    if (step % 3 === 0) lagging.stream.flush();
    if (step % 50 === 0) {
      flush();
      t.same(wild.held, contents(cache), `step ${step}: the wildcard client holds what the cache holds`);
    }
  }
  flush();
  lagging.stream.flush();
  const want = contents(cache);
  t.same(wild.held, want, 'wildcard client == cache');
  t.same(named.held, want, 'explicit client == cache');
  t.same(fanned.held, want, 'wildcard client with the fan-out memo == cache');
  t.same(lagging.held, want, 'lagging wildcard client == cache');
  for (const c of [wild, named, framed, lagging]) {
    t.same(c.misencoded, [], 'every response is byte for byte what the general encoder writes for its fields');
  }
  t.ok(soles > 1_000, `many responses answered from a one-change commit (${soles})`);
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
  t.same(later(fanned.responses), later(named.responses), 'with the fan-out memo too');
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

/** Entries of TYPE_ADDRESS named `name`, a new version each call, with the alias `alias/<name>`. */
function versions(): (name: string) => TypeCommit {
  let v = 0;
  return (name) => ({
    typeUrl: TYPE_ADDRESS,
    upserts: [entryFromBytes(TYPE_ADDRESS, name, Buffer.from(`${name}#${++v}`), [`alias/${name}`])],
  });
}

t.test('the cache answers from a one-change commit only a cursor at the seq before it', (t) => {
  const cache = new ResourceCache();
  const put = versions();
  cache.commit([put('ns/a'), put('ns/b')]);
  t.equal(cache.soleChange(TYPE_ADDRESS, cache.seq - 1), undefined, 'a commit of two changes: read the log');
  cache.commit([put('ns/a')]);
  const one = cache.soleChange(TYPE_ADDRESS, cache.seq - 1);
  t.equal(typeof one === 'object' && one !== null ? one.name : one, 'ns/a', 'the entry the commit linked');
  t.equal(one, cache.get(TYPE_ADDRESS, 'ns/a'), 'the live entry');
  t.equal(cache.soleChange(TYPE_ADDRESS, cache.seq - 2), undefined, 'a cursor two commits back: read the log');
  t.equal(cache.soleChange(TYPE_ADDRESS, cache.seq), undefined, 'a caught-up cursor: not this path');
  t.equal(cache.soleChange(TYPE_AUTHORIZATION, cache.seq - 1), null, 'another type: nothing owed');
  t.same(cache.resolve(TYPE_ADDRESS, 'alias/ns/a'), ['ns/a'], 'the alias resolves to the replacement');
  const seq = cache.seq;
  cache.commit([put('ns/a'), { typeUrl: TYPE_ADDRESS, removes: ['ns/a'] }, { typeUrl: TYPE_ADDRESS, removes: ['x'] }]);
  t.equal(cache.soleChange(TYPE_ADDRESS, seq), undefined, 'changed and removed in one commit: two changes');
  cache.commit([put('ns/c')]);
  cache.commit([{ typeUrl: TYPE_ADDRESS, removes: ['ns/c'] }]);
  t.equal(cache.soleChange(TYPE_ADDRESS, cache.seq - 1), 'ns/c', 'a removal: the name');
  t.same(cache.resolve(TYPE_ADDRESS, 'alias/ns/c'), [], 'its alias resolves to nothing');
  // The same version again changes nothing: no new seq, and the last commit is still the one answered from.
  const b = cache.get(TYPE_ADDRESS, 'ns/b')!;
  const before = cache.seq;
  cache.commit([{ typeUrl: TYPE_ADDRESS, upserts: [entryFromBytes(TYPE_ADDRESS, 'ns/b', Buffer.from('ns/b#2'))] }]);
  t.equal(b.version, cache.get(TYPE_ADDRESS, 'ns/b')!.version, 'the same version');
  t.equal(cache.seq, before, 'no commit');
  t.equal(cache.soleChange(TYPE_ADDRESS, cache.seq - 1), 'ns/c', 'still the removal');
  t.end();
});

/** How slowClient shows a sent resource, for the cache's current entry of `name`. */
const at = (cache: ResourceCache, name: string): string => `+${name}@${cache.get(TYPE_ADDRESS, name)!.version}`;

/** A wildcard client whose sink calls back only when told (a write in flight until then). */
function slowClient(cache: ResourceCache, headroom?: number) {
  const responses: DeltaResponse[] = [];
  const pending: (() => void)[] = [];
  const take = (b: Buffer, done: () => void): void => {
    responses.push(decodeDeltaResponse(wire, b));
    pending.push(done);
  };
  const sink: StreamSink = {
    write: (buf, done) => take(Buffer.isBuffer(buf) ? buf : joinParts(buf), done),
    close: (code, details) => {
      throw new Error(`closed ${code} ${details}`);
    },
  };
  if (headroom !== undefined) {
    Object.assign(sink, { headroom, writeFramed: (b: Buffer, done: () => void) => take(b.subarray(headroom), done) });
  }
  const stream = new XdsStream({
    id: 's',
    cache,
    sink,
    logger,
    clock: systemClock,
    metrics,
    typeOrder: [TYPE_ADDRESS],
  });
  stream.onRequest(request({ typeUrl: TYPE_ADDRESS, resourceNamesSubscribe: ['*'] }));
  stream.flush();
  const names = (r: DeltaResponse): string[] => [
    ...r.resources.map((x) => `+${x.name}@${x.version}`),
    ...r.removedResources.map((n) => `-${n}`),
  ];
  const last = (): string[] => names(responses[responses.length - 1]!);
  const done = (): void => pending.shift()!();
  return { stream, responses, last, done };
}

for (const headroom of [undefined, 5]) {
  const how = headroom === undefined ? 'in parts' : 'built whole';
  t.test(`${how}: a stream not caught up to the commit before the last gets every change since its cursor`, (t) => {
    const cache = new ResourceCache();
    const put = versions();
    cache.commit([put('ns/a'), put('ns/b')]);
    const c = slowClient(cache, headroom);
    c.done();
    cache.commit([put('ns/a')]);
    cache.commit([put('ns/b')]);
    c.stream.flush();
    t.same(c.last().sort(), [at(cache, 'ns/a'), at(cache, 'ns/b')], 'two commits behind: both changes');
    c.done();
    // A write in flight while commits land: its callback flushes what came since the cursor.
    cache.commit([put('ns/a')]);
    c.stream.flush();
    t.same(c.last(), [at(cache, 'ns/a')], 'caught up: the one change');
    cache.commit([{ typeUrl: TYPE_ADDRESS, removes: ['ns/b'] }]);
    cache.commit([put('ns/c')]);
    c.stream.flush();
    t.equal(c.responses.length, 3, 'nothing sent while a write is in flight');
    c.done();
    t.same(c.last().sort(), [at(cache, 'ns/c'), '-ns/b'], 'the callback sends both changes since the cursor');
    c.done();
    cache.commit([{ typeUrl: TYPE_ADDRESS, removes: ['ns/c'] }]);
    c.stream.flush();
    t.same(c.last(), ['-ns/c'], 'a one-removal commit: the removal');
    t.equal(c.responses[c.responses.length - 1]!.systemVersionInfo, String(cache.seq), 'at the cache seq');
    t.end();
  });

  t.test(`${how}: a caught-up stream that owes names is answered from the log, not from the commit`, (t) => {
    const cache = new ResourceCache();
    const put = versions();
    cache.commit([put('ns/a'), put('ns/b')]);
    const c = slowClient(cache, headroom);
    c.done();
    // Rule 9: a name subscribed explicitly (under wildcard too) is owed an answer.
    c.stream.onRequest(request({ typeUrl: TYPE_ADDRESS, resourceNamesSubscribe: ['ns/b'] }));
    cache.commit([put('ns/a')]);
    c.stream.flush();
    t.same(c.last().sort(), [at(cache, 'ns/a'), at(cache, 'ns/b')], 'the change and the owed name');
    c.done();
    cache.commit([put('ns/a')]);
    c.stream.flush();
    t.same(c.last(), [at(cache, 'ns/a')], 'then the one change');
    t.end();
  });

  t.test(`${how}: responses from a one-change commit are ACKed by their nonce`, (t) => {
    const cache = new ResourceCache();
    const put = versions();
    cache.commit([put('ns/a')]);
    const c = slowClient(cache, headroom);
    c.done();
    const first = c.responses[0]!.nonce;
    cache.commit([put('ns/a')]);
    c.stream.flush();
    c.done();
    const second = c.responses[1]!.nonce;
    t.not(second, first, 'a new nonce (rule 16)');
    t.equal(second, 's-2', 'the stream id and its counter');
    t.notOk(c.stream.inSync, 'two responses unACKed');
    c.stream.onRequest(request({ typeUrl: TYPE_ADDRESS, responseNonce: first }));
    t.notOk(c.stream.inSync, 'the older nonce ACKed: the newer is still pending');
    cache.commit([put('ns/a')]);
    c.stream.flush();
    c.done();
    c.stream.onRequest(request({ typeUrl: TYPE_ADDRESS, responseNonce: second }));
    t.notOk(c.stream.inSync, 'a response sent while one was unACKed is pending');
    c.stream.onRequest(request({ typeUrl: TYPE_ADDRESS, responseNonce: c.responses[2]!.nonce }));
    t.ok(c.stream.inSync, 'the latest ACKed');
    const st = c.stream.status().types[0]!;
    t.equal(st.responses, 3, 'three responses');
    t.equal(st.acks, 1, 'one ACK of the latest nonce counted');
    t.end();
  });
}
