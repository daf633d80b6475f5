import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import { StringDecoder } from 'node:string_decoder';
import { DaemonError, GrpcCode } from '../errors';
import type { Clock } from '../lifecycle';
import { systemClock } from '../lifecycle';
import type { KubeClientConfig } from './config';

export type Query = Record<string, string | number | boolean | undefined>;

export interface RequestOptions {
  query?: Query;
  /** Serialised as JSON unless it is already a string/Buffer. */
  body?: unknown;
  contentType?: string;
  /** Accept header; default application/json (the JWKS endpoint serves only application/jwk-set+json). */
  accept?: string;
  /** Whole-request deadline (headers and body). Default 60 s. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface KubeResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** A Kubernetes `Status` failure or a transport failure, with the HTTP status (0 = network). */
export class KubeApiError extends DaemonError {
  constructor(
    message: string,
    readonly httpStatus: number,
    readonly method: string,
    readonly path: string,
    /** Status.reason, e.g. Forbidden, NotFound, Expired, Gone, TooManyRequests. */
    readonly reason?: string,
    /** From a Retry-After header or Status.details.retryAfterSeconds. */
    readonly retryAfterMs?: number,
  ) {
    super(`kube.http_${httpStatus || 'network'}`, grpcFor(httpStatus), message);
    this.name = 'KubeApiError';
  }
}

function grpcFor(status: number) {
  if (status === 0) return GrpcCode.UNAVAILABLE;
  if (status === 401) return GrpcCode.UNAUTHENTICATED;
  if (status === 403) return GrpcCode.PERMISSION_DENIED;
  if (status === 404) return GrpcCode.NOT_FOUND;
  if (status === 409) return GrpcCode.ABORTED;
  if (status === 410) return GrpcCode.OUT_OF_RANGE;
  if (status === 429) return GrpcCode.RESOURCE_EXHAUSTED;
  if (status >= 500) return GrpcCode.UNAVAILABLE;
  return GrpcCode.FAILED_PRECONDITION;
}

/** Builds the KubeApiError for a non-2xx response, using the Status body when there is one. */
export function apiErrorFrom(
  method: string,
  path: string,
  status: number,
  headers: http.IncomingHttpHeaders,
  body: Buffer,
): KubeApiError {
  let message = body.toString('utf8').slice(0, 500).trim();
  let reason: string | undefined;
  let retryAfterMs: number | undefined;
  try {
    const st = JSON.parse(body.toString('utf8')) as {
      message?: string;
      reason?: string;
      details?: { retryAfterSeconds?: number };
    };
    if (st.message) message = st.message;
    if (st.reason) reason = st.reason;
    if (st.details?.retryAfterSeconds) retryAfterMs = st.details.retryAfterSeconds * 1000;
  } catch {
    /* not a Status: keep the raw text */
  }
  const ra = headers['retry-after'];
  if (typeof ra === 'string' && /^\d+$/.test(ra)) retryAfterMs = Number(ra) * 1000;
  return new KubeApiError(
    `${method} ${path}: HTTP ${status}${reason ? ` ${reason}` : ''}: ${message}`,
    status,
    method,
    path,
    reason,
    retryAfterMs,
  );
}

/** The narrow surface the reflector, status writer, lease and JWKS code use; fakes implement it too. */
export interface KubeApi {
  request(method: string, path: string, opts?: RequestOptions): Promise<KubeResponse>;
  /** request() that throws KubeApiError on non-2xx and parses JSON. */
  json<T = unknown>(method: string, path: string, opts?: RequestOptions): Promise<T>;
  /**
   * Opens a streaming GET (a watch). Resolves once headers arrive with a 2xx;
   * throws KubeApiError otherwise. The caller iterates `lines()` and calls
   * abort() to stop.
   */
  stream(path: string, opts?: { query?: Query; signal?: AbortSignal; maxLineBytes?: number }): Promise<LineStream>;
  close(): void;
}

export interface LineStream {
  /** Batches of complete lines, one batch per received chunk (so callers can coalesce). */
  lines(): AsyncIterable<string[]>;
  abort(): void;
}

export function buildPath(path: string, query?: Query): string {
  if (!query) return path;
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined) qs.set(k, String(v));
  const s = qs.toString();
  return s ? `${path}${path.includes('?') ? '&' : '?'}${s}` : path;
}

/**
 * A small Kubernetes HTTP client on node:http(s) with one keep-alive agent.
 * No retries here: the reflector and writers own their retry policy.
 */
export class KubeClient implements KubeApi {
  private readonly agent: http.Agent;
  private readonly url: URL;
  private readonly mod: typeof http | typeof https;
  private token?: string;
  private tokenReadAt = -Infinity;

  constructor(
    readonly config: KubeClientConfig,
    private readonly clock: Clock = systemClock,
  ) {
    this.url = new URL(config.server);
    const isHttps = this.url.protocol === 'https:';
    this.mod = isHttps ? https : http;
    this.agent = isHttps
      ? new https.Agent({
          keepAlive: true,
          ca: config.ca,
          cert: config.cert,
          key: config.key,
          rejectUnauthorized: !config.insecureSkipTlsVerify,
          servername: config.tlsServerName,
        })
      : new http.Agent({ keepAlive: true });
    this.token = config.token;
  }

  /** Bearer token, re-reading tokenFile at most once a minute (client-go's cachingTokenSource). */
  private bearer(): string | undefined {
    if (!this.config.tokenFile) return this.token;
    const now = this.clock.monotonic();
    if (this.token === undefined || now - this.tokenReadAt > 60_000) {
      try {
        this.token = fs.readFileSync(this.config.tokenFile, 'utf8').trim();
        this.tokenReadAt = now;
      } catch {
        /* keep the last good token; the API server's 401 will say why */
      }
    }
    return this.token;
  }

  private headers(extra: Record<string, string>): Record<string, string> {
    const h: Record<string, string> = { accept: 'application/json', 'user-agent': 'ambientd', ...extra };
    const tok = this.bearer();
    if (tok) h.authorization = `Bearer ${tok}`;
    else if (this.config.username) {
      const basic = `${this.config.username}:${this.config.password ?? ''}`;
      h.authorization = `Basic ${Buffer.from(basic).toString('base64')}`;
    }
    return h;
  }

  private open(
    method: string,
    fullPath: string,
    headers: Record<string, string>,
    body: Buffer | undefined,
    signal?: AbortSignal,
  ): Promise<http.IncomingMessage> & { req?: http.ClientRequest } {
    let req: http.ClientRequest | undefined;
    const p = new Promise<http.IncomingMessage>((resolve, reject) => {
      req = this.mod.request(
        {
          protocol: this.url.protocol,
          hostname: this.url.hostname.replace(/^\[|\]$/g, ''),
          port: this.url.port || (this.url.protocol === 'https:' ? 443 : 80),
          path: this.url.pathname.replace(/\/$/, '') + fullPath,
          method,
          headers: body ? { ...headers, 'content-length': String(body.length) } : headers,
          agent: this.agent,
          signal,
        },
        resolve,
      );
      req.on('error', (e) => reject(new KubeApiError(`${method} ${fullPath}: ${e.message}`, 0, method, fullPath)));
      req.end(body);
    }) as Promise<http.IncomingMessage> & { req?: http.ClientRequest };
    p.req = req;
    return p;
  }

  async request(method: string, path: string, opts: RequestOptions = {}): Promise<KubeResponse> {
    const fullPath = buildPath(path, opts.query);
    let body: Buffer | undefined;
    const extra: Record<string, string> = {};
    if (opts.accept) extra.accept = opts.accept;
    if (opts.body !== undefined) {
      body = Buffer.isBuffer(opts.body)
        ? opts.body
        : Buffer.from(typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body));
      extra['content-type'] = opts.contentType ?? 'application/json';
    }
    const timeout = AbortSignal.timeout(opts.timeoutMs ?? 60_000);
    const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
    try {
      const res = await this.open(method, fullPath, this.headers(extra), body, signal);
      const chunks: Buffer[] = [];
      for await (const c of res) chunks.push(c as Buffer);
      if (res.statusCode === 401 && this.config.tokenFile) this.tokenReadAt = -Infinity;
      return { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) };
    } catch (e) {
      if (e instanceof KubeApiError) throw e;
      throw new KubeApiError(`${method} ${fullPath}: ${(e as Error).message}`, 0, method, fullPath);
    }
  }

  async json<T = unknown>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const res = await this.request(method, path, opts);
    if (res.status < 200 || res.status >= 300)
      throw apiErrorFrom(method, buildPath(path, opts.query), res.status, res.headers, res.body);
    return JSON.parse(res.body.toString('utf8')) as T;
  }

  async stream(
    path: string,
    opts: { query?: Query; signal?: AbortSignal; maxLineBytes?: number } = {},
  ): Promise<LineStream> {
    const fullPath = buildPath(path, opts.query);
    const ac = new AbortController();
    const signal = opts.signal ? AbortSignal.any([opts.signal, ac.signal]) : ac.signal;
    let res: http.IncomingMessage;
    try {
      res = await this.open('GET', fullPath, this.headers({}), undefined, signal);
    } catch (e) {
      if (e instanceof KubeApiError) throw e;
      throw new KubeApiError(`GET ${fullPath}: ${(e as Error).message}`, 0, 'GET', fullPath);
    }
    const status = res.statusCode ?? 0;
    if (status < 200 || status >= 300) {
      const chunks: Buffer[] = [];
      for await (const c of res) chunks.push(c as Buffer);
      if (status === 401 && this.config.tokenFile) this.tokenReadAt = -Infinity;
      throw apiErrorFrom('GET', fullPath, status, res.headers, Buffer.concat(chunks));
    }
    return lineStream(res, () => ac.abort(), opts.maxLineBytes ?? 16 * 1024 * 1024, fullPath);
  }

  close(): void {
    this.agent.destroy();
  }
}

/** Splits a readable into newline-delimited lines, bounded by maxLineBytes. */
export function lineStream(
  src: AsyncIterable<unknown>,
  abort: () => void,
  maxLineBytes: number,
  label = 'stream',
): LineStream {
  return {
    abort,
    async *lines() {
      let rest = '';
      // A multi-byte character can straddle two chunks; the decoder holds the partial bytes.
      const dec = new StringDecoder('utf8');
      try {
        for await (const chunk of src) {
          const text = rest + (typeof chunk === 'string' ? chunk : dec.write(chunk as Buffer));
          const parts = text.split('\n');
          rest = parts.pop() ?? '';
          if (rest.length > maxLineBytes) {
            throw new KubeApiError(`${label}: line exceeds ${maxLineBytes} bytes`, 0, 'GET', label);
          }
          const lines = parts.filter((l) => l.trim().length > 0);
          if (lines.length > 0) yield lines;
        }
      } catch (e) {
        if (e instanceof KubeApiError) throw e;
        throw new KubeApiError(`${label}: ${(e as Error).message}`, 0, 'GET', label);
      } finally {
        abort();
      }
      if (rest.trim()) yield [rest];
    },
  };
}
