import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

/** dist/e2e/harness → repo root. */
const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');

/**
 * The unmodified ztunnel the tests run against, or why there is none (the skip reason).
 * tools/ztunnel/ensure.sh --print answers with ZTUNNEL_BIN when set, else the cached build;
 * it never builds (`make test` runs tools/ensure-test-tools.sh first, which does).
 */
export function findZtunnel(): { path: string } | string {
  const r = spawnSync('bash', [path.join(REPO_ROOT, 'tools/ztunnel/ensure.sh'), '--print'], { encoding: 'utf8' });
  const bin = r.stdout.trim().split('\n').pop() ?? '';
  if (r.status === 0 && bin) return { path: bin };
  const why = r.stderr.trim().split('\n').pop();
  return (
    `no ztunnel binary${why ? ` (${why})` : ''}: \`make test\` builds one with tools/ztunnel/ensure.sh ` +
    'from ZTUNNEL_SRC (istio/ztunnel at the pinned commit), or set ZTUNNEL_BIN'
  );
}
