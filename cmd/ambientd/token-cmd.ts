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
}

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
    const issuerOpts: { stateDir: string; trustDomain: string; issuer?: string } = { stateDir: args.stateDir, trustDomain: args.trustDomain ?? 'cluster.local' };
    if (args.issuer) issuerOpts.issuer = args.issuer;
    const issuer = BootstrapIssuer.open(issuerOpts);
    const req: { namespace: string; serviceAccount: string; ttlSeconds: number; node?: string } = {
      namespace: args.namespace,
      serviceAccount: args.serviceAccount,
      ttlSeconds: parseTtlSeconds(args.ttl),
    };
    if (args.node) req.node = args.node;
    out.write(`${issuer.createBootstrapToken(req)}\n`);
    return 0;
  } catch (e) {
    err.write(`ambientd token create: ${(e as Error).message}\n`);
    return 2;
  }
}
