import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PeerPartition, peeringTypes, validateImported } from '../../pkg/peering';
import type { Wire } from '../../pkg/wire';

/**
 * After a run with kill -9s, every file a daemon persisted must still load:
 * peer state through the same decoder + validation the daemon restores with,
 * PEM keys and certificates through node's crypto, other JSON through
 * JSON.parse. No stray temp files may remain. Each daemon's log must not
 * report a corrupt peer state file on any of its restarts.
 */
export function checkStateFiles(
  wire: Wire,
  daemons: { name: string; stateDir: string; logFile: string }[],
): { checked: number; problems: string[]; leftovers: string[] } {
  const decoders = peeringTypes(wire);
  const problems: string[] = [];
  /**
   * Temp files a kill -9 left behind mid-write: harmless to loading (restore reads *.json only) but never cleaned
   * up.
   */
  const leftovers: string[] = [];
  let checked = 0;
  for (const d of daemons) {
    for (const file of walk(d.stateDir)) {
      const rel = `${d.name}:${path.relative(d.stateDir, file)}`;
      const base = path.basename(file);
      checked++;
      try {
        const text = fs.readFileSync(file, 'utf8');
        if (path.basename(path.dirname(file)) === 'peers' && base.endsWith('.json')) {
          const cluster = decodeURIComponent(base.slice(0, -5));
          const p = PeerPartition.deserialise(text, decoders, (t, n, m) => validateImported(t, n, m, { cluster }));
          if (p.cluster !== cluster) throw new Error(`holds cluster ${p.cluster}`);
        } else if (base.endsWith('.json')) {
          JSON.parse(text);
        } else if (base.endsWith('.pem')) {
          if (text.includes('PRIVATE KEY')) crypto.createPrivateKey(text);
          else if (text.includes('CERTIFICATE')) new crypto.X509Certificate(text);
          else throw new Error('neither a key nor a certificate');
        } else if (/tmp|\.partial|~$/.test(base)) {
          leftovers.push(rel);
          checked--;
        }
      } catch (e) {
        problems.push(`${rel}: ${(e as Error).message}`);
      }
    }
    const logText = fs.existsSync(d.logFile) ? fs.readFileSync(d.logFile, 'utf8') : '';
    for (const line of logText.split('\n')) {
      if (/persisted peer state is unreadable|corrupt/i.test(line))
        problems.push(`${d.name} log: ${line.slice(0, 300)}`);
    }
  }
  return { checked, problems, leftovers };
}

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(p));
    else out.push(p);
  }
  return out;
}
