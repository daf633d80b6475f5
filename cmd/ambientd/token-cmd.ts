import { BootstrapIssuer } from '../../pkg/auth';

export interface TokenCreateArgs {
  stateDir: string;
  namespace: string;
  serviceAccount: string;
  node?: string;
  /** Seconds, or a duration such as "90s", "30m", "1h", "7d". */
  ttl: string | number;
  /** Must match the daemon's trust domain (it names the token issuer). Default cluster.local. */
  trustDomain?: string;
  /** Overrides the issuer name; must match the daemon's configured bootstrap issuer. */
  issuer?: string;
  /**
   * The debug URL of the daemon this state dir belongs to (its admin.debugListen). When a daemon answers
   * there and does not hold the key that signed the token, a warning names both keys and state dirs.
   */
  daemonDebugUrl?: string;
  /** admin.debugToken, for /debug/configz (where the daemon's state dir is read). */
  debugToken?: string;
}

/** How long the optional look at a running daemon may take. */
const DAEMON_CHECK_MS = 1500;

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

export function parseTtlSeconds(ttl: string | number): number {
  if (typeof ttl === 'number') return ttl;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$/.exec(ttl);
  if (!m) throw new Error(`invalid --ttl ${JSON.stringify(ttl)} (use e.g. 3600, 30m, 1h, 7d)`);
  return Math.round(Number(m[1]) * UNIT_SECONDS[m[2] || 's']!);
}

/**
 * `ambientd token create`: mints a bootstrap token with the daemon's issuer key
 * (created in the state directory if missing) and prints it on one line.
 * Returns the process exit code.
 */
export async function tokenCreateCommand(
  args: TokenCreateArgs,
  out: NodeJS.WritableStream,
  err: NodeJS.WritableStream = process.stderr,
): Promise<number> {
  try {
    const issuerOpts: { stateDir: string; trustDomain: string; issuer?: string } = {
      stateDir: args.stateDir,
      trustDomain: args.trustDomain ?? 'cluster.local',
    };
    if (args.issuer) issuerOpts.issuer = args.issuer;
    const issuer = BootstrapIssuer.open(issuerOpts);
    const req: { namespace: string; serviceAccount: string; ttlSeconds: number; node?: string } = {
      namespace: args.namespace,
      serviceAccount: args.serviceAccount,
      ttlSeconds: parseTtlSeconds(args.ttl),
    };
    if (args.node) req.node = args.node;
    out.write(`${issuer.createBootstrapToken(req)}\n`);
    if (args.daemonDebugUrl) {
      const warning = await daemonKeyWarning(args.daemonDebugUrl, args.debugToken, issuer.kid, issuer.stateDir);
      if (warning) err.write(`ambientd token create: warning: ${warning}\n`);
    }
    return 0;
  } catch (e) {
    err.write(`ambientd token create: ${(e as Error).message}\n`);
    return 2;
  }
}

async function getJson(url: string, token: string | undefined): Promise<unknown> {
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  const res = await fetch(url, { headers, signal: AbortSignal.timeout(DAEMON_CHECK_MS) });
  if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
  return res.json();
}

/**
 * Asks the daemon at `debugUrl` (its public JWKS, then /debug/configz for its
 * state dir) whether it can verify tokens signed by `kid`. A daemon that does
 * not answer gives no warning: the token may be meant for one not started yet.
 */
export async function daemonKeyWarning(
  debugUrl: string,
  token: string | undefined,
  kid: string,
  stateDir: string,
): Promise<string | undefined> {
  let kids: string[];
  try {
    const jwks = (await getJson(`${debugUrl}/.well-known/jwks.json`, undefined)) as { keys?: { kid?: string }[] };
    kids = (jwks.keys ?? []).map((k) => String(k.kid));
  } catch {
    return undefined;
  }
  if (kids.includes(kid)) return undefined;
  let theirs = '';
  try {
    const doc = (await getJson(`${debugUrl}/debug/configz`, token)) as { config?: { stateDir?: string } };
    if (doc.config?.stateDir) theirs = ` (state dir ${doc.config.stateDir})`;
  } catch {
    // configz may need a debug token we do not have; the key ids still say enough.
  }
  return (
    `the daemon at ${debugUrl} verifies bootstrap tokens with key ${kids.join(', ') || '(none)'}${theirs}, ` +
    `but this token is signed by key ${kid} from ${stateDir}: it will refuse it. ` +
    "Pass --state-dir (or --config) naming the daemon's state directory."
  );
}
