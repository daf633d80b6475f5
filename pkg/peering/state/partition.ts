import * as fs from 'node:fs';
import * as path from 'node:path';
import type protobuf from 'protobufjs';
import type { PeerData } from '../generate';
import { TYPE_CLUSTER_INFO, TYPE_FEDERATED_SERVICE, TYPE_PEER_NODE, TYPE_PEER_WORKLOAD } from '../core';
import {
  asDecoded,
  decodedAs,
  type ClusterInfoMsg,
  type FederatedServiceMsg,
  type PeerNodeMsg,
  type PeerWorkloadMsg,
} from '../core';

export const DECODE_OPTS: protobuf.IConversionOptions = {
  longs: Number,
  enums: Number,
  bytes: Buffer,
  defaults: false,
};

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
  /** Version per resource name, per type: what a reconnect echoes in initial_resource_versions. */
  private readonly held = new Map<string, Map<string, string>>();
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
    for (const [n, v] of this.held.get(typeUrl) ?? []) out[n] = v;
    return out;
  }

  /**
   * Holds the decoded message and its version only. The received bytes are not
   * kept: a view would pin the whole received message buffer, and even a copy
   * costs a Buffer object plus a pool slab share per resource (~0.5 KiB at
   * 100 services x 2,000 peers); persistence re-encodes the decoded form.
   */
  apply(
    typeUrl: string,
    name: string,
    version: string,
    msg: Record<string, unknown>,
    origin = (msg as { originTimeUnixMs?: number }).originTimeUnixMs,
  ): void {
    let m = this.held.get(typeUrl);
    if (!m) this.held.set(typeUrl, (m = new Map<string, string>()));
    m.set(name, version);
    switch (typeUrl) {
      case TYPE_CLUSTER_INFO:
        this.clusterInfo = decodedAs<ClusterInfoMsg>(msg);
        break;
      case TYPE_FEDERATED_SERVICE:
        this.services.set(name, decodedAs<FederatedServiceMsg>(msg));
        this.changedServices.add(name);
        break;
      case TYPE_PEER_WORKLOAD:
        this.workloads.set(name, decodedAs<PeerWorkloadMsg>(msg));
        this.structural = true;
        break;
      case TYPE_PEER_NODE:
        this.nodes.set(name, decodedAs<PeerNodeMsg>(msg));
        this.structural = true;
        break;
    }
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

  private message(typeUrl: string, name: string): Record<string, unknown> | undefined {
    switch (typeUrl) {
      case TYPE_CLUSTER_INFO:
        return asDecoded(this.clusterInfo);
      case TYPE_FEDERATED_SERVICE:
        return asDecoded(this.services.get(name));
      case TYPE_PEER_WORKLOAD:
        return asDecoded(this.workloads.get(name));
      case TYPE_PEER_NODE:
        return asDecoded(this.nodes.get(name));
    }
    return undefined;
  }

  /** Durable form: versions + resource bytes (re-encoded from the validated decoded form), decoded again on restore. */
  serialise(encoders: ReadonlyMap<string, protobuf.Type>): string {
    const types: Record<string, Record<string, [string, string]>> = {};
    for (const [t, m] of this.held) {
      const type = encoders.get(t);
      if (!type) throw new Error(`no message type for ${t}`);
      const o: Record<string, [string, string]> = {};
      for (const [n, version] of m) {
        const msg = this.message(t, n);
        if (msg) o[n] = [version, Buffer.from(type.encode(type.fromObject(msg)).finish()).toString('base64')];
      }
      types[t] = o;
    }
    return JSON.stringify({ format: 1, cluster: this.cluster, lastSyncAt: this.lastSyncAt, types });
  }

  /** Rebuilds a partition from its file; throws on any corruption (the caller reports and ignores it). */
  static deserialise(
    text: string,
    decoders: ReadonlyMap<string, protobuf.Type>,
    validate: (t: string, n: string, m: Record<string, unknown>) => string | undefined,
    pool?: StringPool,
  ): PeerPartition {
    const j = JSON.parse(text) as {
      format?: number;
      cluster?: unknown;
      lastSyncAt?: unknown;
      types?: Record<string, Record<string, [string, string]>>;
    };
    if (j.format !== 1 || typeof j.cluster !== 'string' || !j.types || typeof j.types !== 'object')
      throw new Error('not a peer state file (format 1)');
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
        p.apply(t, n, version, pool ? pool.intern(msg) : msg);
      }
    }
    p.pendingOrigin = undefined;
    p.dirty = false;
    return p;
  }
}

/**
 * Returns the decoded message with its strings and small string arrays
 * replaced by shared copies: N peers exporting the same service send the same
 * names, hostnames, SANs and protocols, and each decode makes fresh strings.
 * The pool is a dedupe cache only (cleared when large), never a source of truth.
 */
export class StringPool {
  private readonly pool = new Map<string, string>();
  private readonly messages = new Map<string, object>();
  constructor(private readonly max = 200_000) {}

  /**
   * One shared object per distinct decoded content: a global service exported
   * by N peers usually arrives N times with equal content (capacity aside),
   * and the merge only reads it. The origin stamp is left out of the key (the
   * caller reads it before sharing; nothing reads it from the stored message).
   * A dedupe cache only: cleared when large, never consulted for truth.
   */
  share<T extends object>(typeUrl: string, msg: T): T {
    const key = typeUrl + JSON.stringify(msg, (k, v: unknown) => (k === 'originTimeUnixMs' ? undefined : v));
    const have = this.messages.get(key);
    if (have) return have as T;
    if (this.messages.size >= this.max / 2) this.messages.clear();
    const own = this.intern(msg);
    this.messages.set(key, own);
    return own;
  }

  str(s: string): string {
    const have = this.pool.get(s);
    if (have !== undefined) return have;
    if (this.pool.size >= this.max) this.pool.clear();
    this.pool.set(s, s);
    return s;
  }

  /**
   * Interns every string value in a decoded message tree (plain objects and
   * arrays), in place; bytes values are copied out of the received message
   * buffer so a 4-byte address does not pin a whole response.
   */
  intern<T extends object>(msg: T): T {
    this.value(msg);
    return msg;
  }

  private value(v: unknown): unknown {
    if (typeof v === 'string') return this.str(v);
    // Decoded bytes (DECODE_OPTS: bytes as Buffer) are Uint8Arrays; Buffer.from copies them.
    if (v instanceof Uint8Array) return Buffer.from(v);
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) v[i] = this.value(v[i]);
    } else if (v !== null && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      for (const k in o) o[k] = this.value(o[k]);
    }
    return v;
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
