import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

type Obj = Record<string, unknown>;

export interface RecordedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
}

export interface Failure {
  match: (r: RecordedRequest) => boolean;
  status: number;
  reason?: string;
  headers?: Record<string, string>;
  times: number;
}

interface Watcher {
  path: string;
  res: http.ServerResponse;
}

/**
 * A small in-memory API server for reflector unit tests: collections keyed by
 * path, a global resourceVersion, an event history that can be "compacted",
 * paginated lists with continue tokens, watches with bookmarks, and injected
 * failures. Deliberately literal about wire shapes (List/Status/watch lines).
 */
export class FakeApiServer {
  readonly requests: RecordedRequest[] = [];
  readonly failures: Failure[] = [];
  /** Watches answer headers and then stay silent (stall detector tests). */
  stallWatches = false;
  /** How a too-old watch RV is refused: as HTTP 410 or as an in-stream ERROR event. */
  goneMode: 'status' | 'event' = 'event';
  /** Ends watches after this long regardless of timeoutSeconds (server-side timeout tests). */
  watchLifetimeMs?: number;
  /** Paths (collections) answering 404, as for a CRD not installed. */
  readonly missing = new Set<string>();
  /** Continue tokens below this RV answer 410 (etcd compacted past the list snapshot). */
  expireContinueBelowRv = 0;
  private rv = 100;
  private compactedRv = 0;
  private readonly collections = new Map<string, Map<string, Obj>>();
  private readonly history: { rv: number; path: string; type: string; obj: Obj }[] = [];
  private readonly watchers = new Set<Watcher>();
  private server?: http.Server;
  url = '';

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => this.handle(req, res));
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    for (const w of this.watchers) w.res.destroy();
    this.watchers.clear();
    this.server?.closeAllConnections();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  get resourceVersion(): number {
    return this.rv;
  }

  /** Create or update; returns the stored object (with resourceVersion). */
  put(path: string, obj: Obj): Obj {
    const meta = (obj.metadata ?? {}) as Obj;
    const key = `${(meta.namespace as string | undefined) ?? ''}/${meta.name as string}`;
    const coll = this.coll(path);
    const type = coll.has(key) ? 'MODIFIED' : 'ADDED';
    const stored = { ...obj, metadata: { ...meta, resourceVersion: String(++this.rv) } };
    coll.set(key, stored);
    this.emit(path, type, stored);
    return stored;
  }

  remove(path: string, namespace: string | undefined, name: string): void {
    const coll = this.coll(path);
    const key = `${namespace ?? ''}/${name}`;
    const prev = coll.get(key);
    if (!prev) return;
    coll.delete(key);
    const gone = { ...prev, metadata: { ...(prev.metadata as Obj), resourceVersion: String(++this.rv) } };
    this.emit(path, 'DELETED', gone);
  }

  /** Forget history up to now: older watch RVs get 410. */
  compact(): void {
    this.compactedRv = this.rv;
    this.history.length = 0;
  }

  /** Sends a BOOKMARK at the current RV to every open watch on path. */
  bookmark(path: string, kind: string, apiVersion: string): void {
    const line = JSON.stringify({
      type: 'BOOKMARK',
      object: { kind, apiVersion, metadata: { resourceVersion: String(this.rv) } },
    });
    for (const w of this.watchers) if (w.path === path) w.res.write(line + '\n');
  }

  /** Ends every open watch (as a server-side timeout does). */
  endWatches(): void {
    for (const w of this.watchers) w.res.end();
    this.watchers.clear();
  }

  openWatches(path?: string): number {
    return [...this.watchers].filter((w) => !path || w.path === path).length;
  }

  private coll(path: string): Map<string, Obj> {
    let c = this.collections.get(path);
    if (!c) this.collections.set(path, (c = new Map()));
    return c;
  }

  private emit(path: string, type: string, obj: Obj): void {
    this.history.push({ rv: this.rv, path, type, obj });
    const line = JSON.stringify({ type, object: obj });
    for (const w of this.watchers) if (w.path === path && !this.stallWatches) w.res.write(line + '\n');
  }

  private status(
    res: http.ServerResponse,
    code: number,
    reason: string,
    message: string,
    headers: Record<string, string> = {},
  ): void {
    res.writeHead(code, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code, reason, message }));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const u = new URL(req.url ?? '/', 'http://x');
    const r: RecordedRequest = { method: req.method ?? 'GET', path: u.pathname, query: u.searchParams };
    this.requests.push(r);
    const f = this.failures.find((x) => x.times > 0 && x.match(r));
    if (f) {
      f.times--;
      return void this.status(res, f.status, f.reason ?? 'Injected', `injected ${f.status}`, f.headers);
    }
    if (this.missing.has(u.pathname))
      return void this.status(res, 404, 'NotFound', 'the server could not find the requested resource');
    if (u.searchParams.get('watch') === 'true') return void this.watch(u, res);
    return void this.list(u, res);
  }

  private list(u: URL, res: http.ServerResponse): void {
    const limit = Number(u.searchParams.get('limit') ?? '0');
    const cont = u.searchParams.get('continue');
    let offset = 0;
    let snapRv = this.rv;
    if (cont) {
      const tok = JSON.parse(Buffer.from(cont, 'base64').toString('utf8')) as { rv: number; offset: number };
      if (tok.rv < this.expireContinueBelowRv) {
        return void this.status(
          res,
          410,
          'Expired',
          'The provided continue parameter is too old to display a consistent list result.',
        );
      }
      offset = tok.offset;
      snapRv = tok.rv;
    }
    // The fake serves the live set for later pages; tests that care keep it stable while listing.
    const all = [...this.coll(u.pathname).values()].sort((a, b) =>
      JSON.stringify(a.metadata).localeCompare(JSON.stringify(b.metadata)),
    );
    const items = limit > 0 ? all.slice(offset, offset + limit) : all.slice(offset);
    const next =
      limit > 0 && offset + limit < all.length
        ? Buffer.from(JSON.stringify({ rv: snapRv, offset: offset + limit })).toString('base64')
        : undefined;
    const stripped = items.map((o) => {
      const { kind: _k, apiVersion: _a, ...rest } = o;
      return rest;
    });
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        kind: 'List',
        apiVersion: 'v1',
        metadata: { resourceVersion: String(snapRv), continue: next },
        items: stripped,
      }),
    );
  }

  private watch(u: URL, res: http.ServerResponse): void {
    const from = Number(u.searchParams.get('resourceVersion') ?? '0');
    if (from < this.compactedRv) {
      const msg = `too old resource version: ${from} (${this.compactedRv})`;
      if (this.goneMode === 'status') return void this.status(res, 410, 'Expired', msg);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          type: 'ERROR',
          object: { kind: 'Status', apiVersion: 'v1', status: 'Failure', message: msg, reason: 'Expired', code: 410 },
        }) + '\n',
      );
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    const w: Watcher = { path: u.pathname, res };
    this.watchers.add(w);
    res.on('close', () => this.watchers.delete(w));
    if (this.stallWatches) return;
    for (const h of this.history)
      if (h.path === u.pathname && h.rv > from) res.write(JSON.stringify({ type: h.type, object: h.obj }) + '\n');
    const ms = this.watchLifetimeMs ?? Number(u.searchParams.get('timeoutSeconds') ?? '0') * 1000;
    if (ms > 0) {
      const t = setTimeout(() => res.end(), ms);
      res.on('close', () => clearTimeout(t));
    }
  }
}
