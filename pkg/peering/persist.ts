import * as fs from 'node:fs';
import * as path from 'node:path';
import type protobuf from 'protobufjs';
import type { Logger } from '../log';
import { PeerPartition, peerFile, type StringPool } from './partition';
import { validateImported } from './validate';

/**
 * Reads every persisted peer partition from `<stateDir>/peers/` (before the
 * daemon serves). A corrupt or unreadable file is reported and skipped, never
 * fatal. A crash mid-write (kill -9) leaves `<cluster>.json.tmp-<pid>`: the
 * rename never happened, so the .json beside it is the last good copy, and
 * nothing of ours writes before restore, so those temp files are removed.
 */
export function restorePeerState(
  stateDir: string,
  types: ReadonlyMap<string, protobuf.Type>,
  log: Logger,
  pool?: StringPool,
): { parts: Map<string, PeerPartition>; problems: { file: string; reason: string }[] } {
  const dir = path.join(stateDir, 'peers');
  const parts = new Map<string, PeerPartition>();
  const problems: { file: string; reason: string }[] = [];
  let files: string[] = [];
  try {
    const all = fs.readdirSync(dir);
    files = all.filter((f) => f.endsWith('.json'));
    for (const f of all) {
      if (!/\.json\.tmp-\d+$/.test(f)) continue;
      try {
        fs.rmSync(path.join(dir, f), { force: true });
        log.info({ file: f }, 'removed a temp file left by an interrupted peer-state write');
      } catch {
        /* best effort */
      }
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') problems.push({ file: dir, reason: (e as Error).message });
  }
  for (const f of files.sort()) {
    const file = path.join(dir, f);
    try {
      const p = PeerPartition.deserialise(fs.readFileSync(file, 'utf8'), types, (t, n, m) => validateImported(t, n, m, { cluster: decodeURIComponent(f.slice(0, -5)) }), pool);
      if (peerFile(stateDir, p.cluster) !== file) throw new Error(`file name does not match cluster ${p.cluster}`);
      parts.set(p.cluster, p);
      log.info({ peer: p.cluster, services: p.services.size, workloads: p.workloads.size }, 'restored persisted peer data');
    } catch (e) {
      const reason = (e as Error).message.slice(0, 300);
      problems.push({ file, reason });
      log.error({ file, reason }, 'persisted peer state is unreadable or corrupt; ignoring it');
    }
  }
  return { parts, problems };
}
