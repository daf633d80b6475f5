/**
 * `ambientd check`: reads one daemon's debug endpoints and prints one line per
 * check (✓/✗ and a short reason), like `istioctl multicluster check`. Only the
 * documented JSON fields (docs/admin.md) are read, so it works against any
 * daemon version that keeps them.
 */
export interface CheckArgs {
  debugUrl: string;
  token?: string;
  output: 'text' | 'json';
  /** Peer data older than this (seconds) while the peer is not refreshing it is stale; default 300. */
  staleSeconds?: number;
}

export interface CheckResult {
  name: string;
  ok: boolean;
  reason: string;
}

type Obj = Record<string, unknown>;

/** The documents the checks read (as fetched; shapes per docs/admin.md). */
export interface CheckDocs {
  ready: { status: number; body: { ready?: boolean; reasons?: string[] } };
  configz: Obj;
  registryz: {
    counts?: Record<string, number>;
    rejected?: { kind: string; key: string; reason: string }[];
    gateways?: { key: string; name: string; gatewayClassName?: string; labels?: Record<string, string> }[];
  };
  certz: { now?: string; ca?: { mode?: string; roots?: { notAfter: string }[]; expiresAt?: string } };
  peers: { now?: string; enabled?: boolean; peers?: PeerDoc[] };
  syncz: { streams?: StreamDoc[]; sources?: SourceDoc[] };
  /** Absent from daemons older than inbound peer reporting. */
  connections?: { inboundPeers?: { clusterId: string | null; spiffeId: string | null }[] };
}

interface SourceDoc {
  source: string;
  healthy: boolean;
  synced: boolean;
  problems: { path: string; code: string; reason: string }[];
}

interface PeerDoc {
  name: string;
  conditions: Record<
    'Connected' | 'Synced' | 'DataPlaneProgrammed',
    { status: string; reason: string; message: string }
  >;
  lastSyncTime: string | null;
  stale: boolean;
  conflicts: { kind: string; key: string; owners?: string[]; reason: string }[];
}

interface StreamDoc {
  nodeId: string;
  kind: string;
  inSync: boolean;
  pendingCommits: number;
  types: { typeUrl: string; acked: boolean; lastNack: { message: string } | null }[];
}

export const CA_MIN_VALIDITY_DAYS = 30;
export const DEFAULT_STALE_SECONDS = 300;
const TIMEOUT_MS = 5000;
const DAY = 86_400_000;

const shortType = (t: string): string => t.replace(/^.*[./]/, '');
const list = (xs: string[], max = 3): string =>
  xs.length <= max ? xs.join('; ') : `${xs.slice(0, max).join('; ')}; … (+${xs.length - max} more)`;

/** Pure: documents in, one result per check out. */
export function evaluate(d: CheckDocs, opts: { staleSeconds?: number } = {}): CheckResult[] {
  const out: CheckResult[] = [];
  const staleMs = (opts.staleSeconds ?? DEFAULT_STALE_SECONDS) * 1000;

  const ready = d.ready.status === 200 && d.ready.body.ready === true;
  out.push({
    name: 'daemon ready',
    ok: ready,
    reason: ready ? 'serving' : `not ready: ${list(d.ready.body.reasons ?? [`HTTP ${d.ready.status}`])}`,
  });

  const rejected = d.registryz.rejected ?? [];
  const configOk = typeof d.configz.config === 'object' && d.configz.config !== null && rejected.length === 0;
  const objects = Object.entries(d.registryz.counts ?? {})
    .filter(([k]) => k !== 'rejected')
    .reduce((n, [, v]) => n + v, 0);
  out.push({
    name: 'config valid',
    ok: configOk,
    reason: rejected.length
      ? `${rejected.length} registry object(s) rejected: ` +
        list(rejected.map((r) => `${r.kind} ${r.key}: ${r.reason}`))
      : configOk
        ? `effective configuration loaded; ${objects} registry objects, none rejected`
        : 'effective configuration missing from /debug/configz',
  });

  // A source that cannot read something keeps its last good objects (docs/reliability.md); say what and why.
  const sources = d.syncz.sources ?? [];
  const sick = sources.filter((x) => !x.healthy || !x.synced);
  out.push({
    name: 'registry sources readable',
    ok: sick.length === 0,
    reason:
      sick.length === 0
        ? `${sources.length} source(s) read in full`
        : list(
            sick.flatMap((x) => [
              ...(x.synced ? [] : [`${x.source} never read in full`]),
              ...x.problems.map((p) => `${p.path}: ${p.reason} (last good objects kept)`),
            ]),
          ),
  });

  const now = Date.parse(d.certz.now ?? '') || Date.now();
  const roots = d.certz.ca?.roots ?? [];
  const expiresAt = Date.parse(d.certz.ca?.expiresAt ?? '');
  if (!roots.length || Number.isNaN(expiresAt)) {
    out.push({ name: 'CA material', ok: false, reason: 'no CA roots reported' });
  } else {
    const days = Math.floor((expiresAt - now) / DAY);
    const ok = expiresAt - now > CA_MIN_VALIDITY_DAYS * DAY;
    const short = ok ? '' : `, less than ${CA_MIN_VALIDITY_DAYS}`;
    const expiry = `${new Date(expiresAt).toISOString()} (${days} days${short})`;
    out.push({
      name: 'CA material',
      ok,
      reason: `${d.certz.ca?.mode ?? 'unknown'} CA, ${roots.length} root(s); earliest expiry ${expiry}`,
    });
  }

  const peers = d.peers.peers ?? [];
  const pnow = Date.parse(d.peers.now ?? '') || now;
  // A peer is declared by an istio-remote Gateway (docs/design/peering-model.md); one the peering layer
  // does not report is not connected.
  const reported = new Set(peers.map((p) => p.name));
  const unreportedWhy = d.peers.enabled ? 'not reported by the peering layer' : 'peering is not enabled in this daemon';
  const unreported = (d.registryz.gateways ?? [])
    .filter((g) => g.gatewayClassName === 'istio-remote' && !reported.has(g.name) && !reported.has(g.key))
    .map((g) => `${g.key} declared but ${unreportedWhy}`);
  if (!peers.length && !unreported.length) {
    const why = d.peers.enabled ? 'no peers declared' : 'single-cluster mode (no peering layer)';
    out.push({ name: 'peers connected and synced', ok: true, reason: why });
    out.push({ name: 'no stale peer data', ok: true, reason: why });
    out.push({ name: 'no flat-mode address conflicts', ok: true, reason: why });
  } else {
    const bad = peers.filter((p) => p.conditions.Connected.status !== 'True' || p.conditions.Synced.status !== 'True');
    const problems = [
      ...bad.map((p) => {
        const c = p.conditions.Connected.status !== 'True' ? p.conditions.Connected : p.conditions.Synced;
        const which = p.conditions.Connected.status !== 'True' ? 'not Connected' : 'not Synced';
        return `${p.name} ${which}${c.reason ? ` (${c.reason}${c.message ? `: ${c.message}` : ''})` : ''}`;
      }),
      ...unreported,
    ];
    out.push({
      name: 'peers connected and synced',
      ok: problems.length === 0,
      reason: problems.length === 0 ? `${peers.length} peer(s) Connected and Synced` : list(problems),
    });
    const stale: string[] = [];
    for (const p of peers) {
      const refreshing = p.conditions.Connected.status === 'True' && !p.stale;
      if (refreshing) continue;
      const last = p.lastSyncTime ? Date.parse(p.lastSyncTime) : NaN;
      if (Number.isNaN(last)) {
        if (p.stale) stale.push(`${p.name}: stale data of unknown age`);
        continue;
      }
      if (pnow - last > staleMs) stale.push(`${p.name}: last synced ${Math.round((pnow - last) / 1000)}s ago`);
    }
    out.push({
      name: 'no stale peer data',
      ok: stale.length === 0,
      reason: stale.length ? list(stale) : `no peer data older than ${Math.round(staleMs / 1000)}s without refresh`,
    });
    const conflicts = peers.flatMap((p) => p.conflicts.map((c) => conflictLine(p.name, c)));
    out.push({
      name: 'no flat-mode address conflicts',
      ok: conflicts.length === 0,
      reason: conflicts.length ? list(conflicts) : 'none detected',
    });
  }

  out.push(linkCheck(d));

  const streams = d.syncz.streams ?? [];
  const lagging = streams.filter((s) => !s.inSync);
  const zt = streams.filter((s) => s.kind === 'ztunnel').length;
  out.push({
    name: 'ztunnels ACKed the latest push',
    ok: lagging.length === 0,
    reason:
      lagging.length === 0
        ? `${streams.length} xDS client(s) (${zt} ztunnel) in sync`
        : list(
            lagging.map((s) => {
              const nack = s.types.find((t) => t.lastNack && !t.acked);
              const open = s.types.filter((t) => !t.acked).map((t) => shortType(t.typeUrl));
              if (nack) return `${s.nodeId} NACKed ${shortType(nack.typeUrl)}: ${nack.lastNack!.message}`;
              const what = open.length ? open.join(', ') : `${s.pendingCommits} pending commit(s)`;
              return `${s.nodeId} has not ACKed ${what}`;
            }),
          ),
  });
  return out;
}

const EAST_WEST = new Set(['istio-eastwest', 'istio-east-west']);
const NETWORK = 'topology.istio.io/network';
const CLUSTER = 'topology.istio.io/cluster';

/**
 * Links: an east-west Gateway exists once a peer imports from this cluster,
 * every declared istio-remote Gateway is valid, and peers that import from us
 * without being imported from are named (one-way links are allowed, so that
 * alone does not fail). Each finding says which command fixes it.
 */
function linkCheck(d: CheckDocs): CheckResult {
  const gws = d.registryz.gateways ?? [];
  const eastWest = gws.filter((g) => EAST_WEST.has(g.gatewayClassName ?? ''));
  const remotes = gws.filter((g) => g.gatewayClassName === 'istio-remote');
  const linked = new Set(remotes.map((g) => g.labels?.[CLUSTER] || g.labels?.[NETWORK] || ''));
  const inbound = [...new Set((d.connections?.inboundPeers ?? []).map((p) => p.clusterId ?? '').filter(Boolean))];
  const problems: string[] = [];
  // Importing needs no east-west Gateway; being imported from does (peers' link and data plane use it).
  if (!eastWest.length && inbound.length) {
    problems.push(
      'no east-west Gateway: peers cannot link to this cluster; run ' +
        '`ambientd expose --address <reachable address> --write` (file registry) ' +
        'or `ambientd expose | kubectl apply -f -`',
    );
  }
  for (const p of d.peers.peers ?? []) {
    const c = p.conditions.Connected;
    if (c.reason !== 'Invalid') continue;
    const fix = '`ambientd link --from <peer debug URL> --write`';
    problems.push(`${p.name} is Invalid (${c.message}); regenerate it with ${fix}`);
  }
  const oneWay = inbound.filter((c) => !linked.has(c));
  const notes = oneWay.map(
    (c) =>
      `${c} imports from this cluster but is not imported from (one-way); ` +
      `to link back: \`ambientd link --from <${c} debug URL> --write\``,
  );
  if (problems.length) return { name: 'peers linked', ok: false, reason: list([...problems, ...notes]) };
  const ew = eastWest.length ? `east-west Gateway ${eastWest.map((g) => g.key).join(', ')}` : 'no east-west Gateway';
  const base = `${ew}; ${remotes.length} peer(s) declared`;
  return { name: 'peers linked', ok: true, reason: notes.length ? `${base}; ${list(notes)}` : base };
}

/**
 * One conflict, readable: "<peer>: <kind> <key> held by <owner>, refused to <contender>".
 * Falls back to the reason alone when the daemon names neither kind nor owners.
 */
export function conflictLine(peer: string, c: PeerDoc['conflicts'][number]): string {
  const what = [c.kind, c.key].filter(Boolean).join(' ');
  const [owner, contender] = c.owners ?? [];
  if (what && owner && contender) return `${peer}: ${what} held by ${owner}, refused to ${contender}`;
  if (what) return `${peer}: ${what}${c.reason ? ` (${c.reason})` : ''}`;
  return `${peer}: ${c.reason || 'conflict (no details reported)'}`;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    path: string,
  ) {
    super(status === 401 ? `${path}: 401 unauthorized (missing or wrong --token)` : `${path}: HTTP ${status}`);
  }
}

async function fetchJson(
  base: string,
  path: string,
  token: string | undefined,
  allow: number[] = [200],
): Promise<{ status: number; body: unknown }> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(`${base}${path}`, { headers, signal: AbortSignal.timeout(TIMEOUT_MS) });
  const text = await res.text();
  if (!allow.includes(res.status)) throw new HttpError(res.status, path);
  return { status: res.status, body: JSON.parse(text) as unknown };
}

async function fetchDocs(base: string, token: string | undefined): Promise<CheckDocs> {
  const [ready, configz, registryz, certz, peers] = await Promise.all([
    fetchJson(base, '/ready', token, [200, 503]),
    fetchJson(base, '/debug/configz', token),
    fetchJson(base, '/debug/registryz', token),
    fetchJson(base, '/debug/certz', token),
    fetchJson(base, '/debug/peers', token),
  ]);
  return {
    ready: ready as CheckDocs['ready'],
    configz: configz.body as Obj,
    registryz: registryz.body as CheckDocs['registryz'],
    certz: certz.body as CheckDocs['certz'],
    peers: peers.body as CheckDocs['peers'],
    syncz: (await fetchJson(base, '/debug/syncz', token)).body as CheckDocs['syncz'],
    connections: (await fetchJson(base, '/debug/connections', token)).body as CheckDocs['connections'],
  };
}

/**
 * A push may be on the wire at the moment of the check; re-read syncz a few
 * times (bounded, ~1 s in all) before declaring a client behind.
 */
async function settleSync(base: string, token: string | undefined, docs: CheckDocs): Promise<void> {
  for (
    let i = 0;
    i < 5 && (docs.syncz.streams ?? []).some((s) => !s.inSync && !s.types.some((t) => t.lastNack && !t.acked));
    i++
  ) {
    await new Promise((r) => setTimeout(r, 200));
    docs.syncz = (await fetchJson(base, '/debug/syncz', token)).body as CheckDocs['syncz'];
  }
}

function render(results: CheckResult[], args: CheckArgs, out: NodeJS.WritableStream): void {
  const ok = results.every((r) => r.ok);
  if (args.output === 'json') {
    out.write(`${JSON.stringify({ ok, debugUrl: args.debugUrl, checks: results }, null, 2)}\n`);
    return;
  }
  for (const r of results) out.write(`${r.ok ? '✓' : '✗'} ${r.name}: ${r.reason}\n`);
}

export const DEFAULT_DEBUG_URL = 'http://127.0.0.1:8080';

/**
 * Builds CheckArgs from parsed flags (`--debug-url`, `--token`, `--output`,
 * `--stale-seconds`); returns an error message for bad usage. The token may
 * also come from env (AMBIENTD_DEBUG_TOKEN) — cmd/ passes it in `envToken`.
 */
export function checkArgsFromFlags(flags: Record<string, string>, envToken?: string): CheckArgs | string {
  const output = flags.output ?? 'text';
  if (output !== 'text' && output !== 'json') return `--output must be text or json, got "${output}"`;
  let staleSeconds: number | undefined;
  if (flags['stale-seconds'] !== undefined) {
    staleSeconds = Number(flags['stale-seconds']);
    if (!Number.isFinite(staleSeconds) || staleSeconds < 0)
      return `--stale-seconds must be a non-negative number, got "${flags['stale-seconds']}"`;
  }
  const debugUrl = flags['debug-url'] ?? DEFAULT_DEBUG_URL;
  if (!/^https?:\/\/[^/]+/.test(debugUrl)) return `--debug-url must be an http(s) URL, got "${debugUrl}"`;
  return { debugUrl, token: flags.token ?? (envToken || undefined), output, staleSeconds };
}

/** Exit code 0 when every check passes, 1 when any fails or the daemon cannot be read. */
export async function checkCommand(args: CheckArgs, out: NodeJS.WritableStream): Promise<number> {
  const base = args.debugUrl.replace(/\/+$/, '');
  let docs: CheckDocs;
  try {
    docs = await fetchDocs(base, args.token);
    await settleSync(base, args.token, docs);
  } catch (e) {
    const cause = (e as { cause?: { code?: string } }).cause?.code;
    const reason = e instanceof HttpError ? e.message : `cannot read ${base}: ${cause ?? (e as Error).message}`;
    render([{ name: 'daemon reachable', ok: false, reason }], args, out);
    return 1;
  }
  const results = evaluate(docs, { staleSeconds: args.staleSeconds });
  render(results, args, out);
  return results.every((r) => r.ok) ? 0 : 1;
}
