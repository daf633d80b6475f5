import * as fs from 'node:fs';
import * as path from 'node:path';
import type protobuf from 'protobufjs';
import type { PeerData } from './merge';
import { TYPE_CLUSTER_INFO, TYPE_FEDERATED_SERVICE, TYPE_PEER_NODE, TYPE_PEER_WORKLOAD } from './types';
import type { ClusterInfoMsg, FederatedServiceMsg, PeerNodeMsg, PeerWorkloadMsg } from './types';

export const DECODE_OPTS: protobuf.IConversionOptions = { longs: Number, enums: Number, bytes: Buffer, defaults: false };

interface Held {
  version: string;
  bytes: Uint8Array;
}

/**
 * One peer's imported data. Its client is the only writer; the merge reads it
 * inside the daemon's push (same thread, between writes). Entries are replaced
 * whole, so object identity marks change.
 */
export class PeerPartition implements PeerData {
  clusterInfo?: ClusterInfoMsg;
  readonly services = new Map<string, FederatedServiceMsg>();
  readonly workloads = new Map<string, PeerWorkloadMsg>();
  readonly nodes = new Map<string, PeerNodeMsg>();
  private readonly held = new Map<string, Map<string, Held>>();
  /** Earliest origin stamp of changes not yet pushed. */
  pendingOrigin?: number;
  lastSyncAt?: number;
  dirty = false;
  /** Resources accepted from the peer over all connections (a reconnect to an unchanged peer adds none). */
  received = 0;
  /** FederatedServices changed since the last merge, and whether anything else the merge reads changed. */
  changedServices = new Set<string>();
  structural = false;

  constructor(readonly cluster: string) {}

  versions(typeUrl: string): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [n, h] of this.held.get(typeUrl) ?? []) out[n] = h.version;
    return out;
  }

  apply(typeUrl: string, name: string, version: string, bytes: Uint8Array, msg: Record<string, unknown>): void {
    let m = this.held.get(typeUrl);
    if (!m) this.held.set(typeUrl, (m = new Map()));
    // A copy: the decoded view points into the whole received message (or an
    // HTTP/2 chunk of it), and holding the view would pin that buffer for as
    // long as this one resource lives (measured: ~37 MiB of 8+ KiB buffers for
    // 20k resources at N=200). Small copies share Node's pool slabs.
    m.set(name, { version, bytes: Buffer.from(bytes) });
    switch (typeUrl) {
      case TYPE_CLUSTER_INFO:
        this.clusterInfo = msg as unknown as ClusterInfoMsg;
        break;
      case TYPE_FEDERATED_SERVICE:
        this.services.set(name, msg as unknown as FederatedServiceMsg);
        this.changedServices.add(name);
        break;
      case TYPE_PEER_WORKLOAD:
        this.workloads.set(name, msg as unknown as PeerWorkloadMsg);
        this.structural = true;
        break;
      case TYPE_PEER_NODE:
        this.nodes.set(name, msg as unknown as PeerNodeMsg);
        this.structural = true;
        break;
    }
    const origin = (msg as { originTimeUnixMs?: number }).originTimeUnixMs;
    if (typeof origin === 'number' && origin > 0) this.pendingOrigin = Math.min(this.pendingOrigin ?? origin, origin);
    this.dirty = true;
  }

  remove(typeUrl: string, name: string): boolean {
    if (!this.held.get(typeUrl)?.delete(name)) return false;
    if (typeUrl === TYPE_CLUSTER_INFO) this.clusterInfo = undefined;
    else if (typeUrl === TYPE_FEDERATED_SERVICE) {
      this.services.delete(name);
      this.changedServices.add(name);
    } else if (typeUrl === TYPE_PEER_WORKLOAD || typeUrl === TYPE_PEER_NODE) {
      (typeUrl === TYPE_PEER_WORKLOAD ? this.workloads : this.nodes).delete(name);
      this.structural = true;
    }
    this.dirty = true;
    return true;
  }

  /** Drops a whole type (e.g. no longer subscribed). */
  clearType(typeUrl: string): void {
    for (const n of [...(this.held.get(typeUrl)?.keys() ?? [])]) this.remove(typeUrl, n);
  }

  takeOrigin(): number | undefined {
    const o = this.pendingOrigin;
    this.pendingOrigin = undefined;
    return o;
  }

  /** Durable form: raw resource bytes + versions, decoded again on restore. */
  serialise(): string {
    const types: Record<string, Record<string, [string, string]>> = {};
    for (const [t, m] of this.held) {
      const o: Record<string, [string, string]> = {};
      for (const [n, h] of m) o[n] = [h.version, Buffer.from(h.bytes).toString('base64')];
      types[t] = o;
    }
    return JSON.stringify({ format: 1, cluster: this.cluster, lastSyncAt: this.lastSyncAt, types });
  }

  /** Rebuilds a partition from its file; throws on any corruption (the caller reports and ignores it). */
  static deserialise(text: string, decoders: ReadonlyMap<string, protobuf.Type>, validate: (t: string, n: string, m: Record<string, unknown>) => string | undefined): PeerPartition {
    const j = JSON.parse(text) as { format?: number; cluster?: unknown; lastSyncAt?: unknown; types?: Record<string, Record<string, [string, string]>> };
    if (j.format !== 1 || typeof j.cluster !== 'string' || !j.types || typeof j.types !== 'object') throw new Error('not a peer state file (format 1)');
    const p = new PeerPartition(j.cluster);
    if (typeof j.lastSyncAt === 'number') p.lastSyncAt = j.lastSyncAt;
    for (const [t, m] of Object.entries(j.types)) {
      const type = decoders.get(t);
      if (!type) throw new Error(`unknown type ${t}`);
      for (const [n, [version, b64]] of Object.entries(m)) {
        const bytes = Buffer.from(b64, 'base64');
        const msg = type.toObject(type.decode(bytes), DECODE_OPTS);
        const why = validate(t, n, msg);
        if (why) throw new Error(`${t} ${n}: ${why}`);
        p.apply(t, n, version, bytes, msg);
      }
    }
    p.pendingOrigin = undefined;
    p.dirty = false;
    return p;
  }
}

export function peerFile(stateDir: string, cluster: string): string {
  return path.join(stateDir, 'peers', `${encodeURIComponent(cluster)}.json`);
}

/** Async form of writeAtomic: the event loop keeps serving while the disk syncs. */
export async function writeAtomicAsync(file: string, text: string): Promise<void> {
  await fs.promises.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.tmp-${process.pid}`;
  const fh = await fs.promises.open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fs.promises.rename(tmp, file);
}

/** write tmp, fsync, rename: a crash leaves the old or the new file, never half of one. */
export function writeAtomic(file: string, text: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = fs.openSync(tmp, 'w', 0o600);
  try {
    fs.writeSync(fd, text);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
  try {
    const dfd = fs.openSync(path.dirname(file), 'r');
    fs.fsyncSync(dfd);
    fs.closeSync(dfd);
  } catch {
    // Directory fsync is best effort (not supported everywhere).
  }
}
