/**
 * A measured prototype of the design docs/design/translate-floor.md names
 * to pass issue #20 target 3: translating pods straight to their encoded
 * Address bytes. Per generation, the fields many pods share are encoded
 * once per group (a namespace and its selection label's value: namespace,
 * service account, canonical name/revision, policies, cluster id, services)
 * and per node (locality), by the real translator (pkg/translate's
 * buildPodWorkload on the group's first pod) and the real encoder
 * (pkg/wire CODECS). Per pod only its own fields (name, address, node,
 * workload name, uid, status) are written between those pieces, into one
 * arena, with room around each message for its frame (encoded-entries.ts
 * makes the frame there, no copy). The pass over the pods is a full
 * translation's (ShardTable.mapFrom over the registry's pod shards, each
 * shard touched first), and its output is the arena, three offsets per pod
 * and the registry key → index table (no key hashed). Session 24 measured it
 * from its session-12 form (a loop over a copied pod array, a name map that
 * hashed every uid) at 1.9–2.2 µs per pod down to 1.2–1.3 (50k workloads).
 *
 * It covers the pods of meshes whose per-group fields depend on the group
 * alone (the bench mesh: the service account and canonical names follow the
 * app label); verifyEncoded checks every pod's bytes equal the real encoder's
 * encoding of the translation's message, so a mesh outside that shape fails
 * the check rather than passing silently. Services, policies and other
 * kinds are not in it: pods are 98 % of the resources at 50k workloads.
 */
import { ipToBytes, type PodObj } from '../../pkg/model';
import { FrozenMap, ShardTable } from '../../pkg/registry';
import type { RegistrySnapshot } from '../../pkg/registry';
import { buildContext, buildPodWorkload, workloadUidForPod } from '../../pkg/translate';
import type { AddressMsg, MeshContext, TranslateContext, WorkloadMsg } from '../../pkg/translate';
import { CODECS } from '../../pkg/wire';

const ADDRESS = CODECS['istio.workload.Address'];
const TERMINAL = new Set(['Succeeded', 'Failed']);

/** The encoded fields of a group, split where a pod's own fields go (field-number order). */
interface Group {
  /** 2 namespace */
  ns: Buffer;
  /** 4-8: network, tunnel protocol, trust domain, service account, waypoint */
  a: Buffer;
  /** 10-12: canonical name and revision, workload type */
  b: Buffer;
  /** 14-16: native tunnel, authorization policies */
  c: Buffer;
  /** 18-19: cluster id, network gateway */
  d: Buffer;
  /** 21-23: hostname, services, application tunnel */
  e: Buffer;
  /** "<cluster>//Pod/<ns>/" as bytes, the start of every uid */
  uidPrefix: Buffer;
  uidPrefixText: string;
}

interface NsGroups {
  label: string;
  byValue: Map<string | undefined, Group>;
}

/** Per pod, three offsets into the arena (EncodedOutput.at): its Address message's start and end, ... */
export const MSG = 0;
export const MSG_END = 1;
/** ... and where its uid's value starts (the copy of the resource name inside the message). */
export const UID = 2;
export const SLOTS = 3;
/**
 * Room left before each message for its frame head, at least the longest: field 2's tag and length (≤ 2 bytes),
 * Resource.version (18), Resource.resource's tag and length (3), Any.type_url (44), Any.value's tag and length (3).
 */
const HEAD_ROOM = 72;

export interface EncodedOutput {
  /**
   * Each pod's Address message, HEAD_ROOM bytes after the previous pod's, and room after it for Resource.name's
   * field (3 bytes + the uid): the frame is made around the message where it lies (encoded-entries.ts).
   */
  arena: Buffer;
  /** Pod i's offsets are at[SLOTS * i + MSG ...]. */
  at: Uint32Array;
  /** Registry key ("ns/name") -> pod index, laid out like the snapshot's pod map (ShardTable: no key hashed). */
  names: ShardTable<number>;
  /** A pod's resource name (its uid) is this prefix + its registry key. */
  uidPrefix: string;
}

const scratch = Buffer.allocUnsafe(1 << 16);

/** The encoding of an Address holding only `fields` of w: those fields' bytes after the 2-3 byte wrapper header. */
// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- K ties to[k] to from[k]'s type
function copyField<K extends keyof WorkloadMsg>(to: WorkloadMsg, from: WorkloadMsg, k: K): void {
  to[k] = from[k];
}

function fieldsOf(w: WorkloadMsg, keys: readonly (keyof WorkloadMsg)[]): Buffer {
  // An empty uid is not encoded (proto3 default).
  const part: WorkloadMsg = { uid: '' };
  for (const k of keys) if (w[k] !== undefined) copyField(part, w, k);
  const start = ADDRESS.writeBack({ workload: part }, scratch, scratch.length);
  // Skip Address.workload's tag and length varint.
  let at = start + 1;
  while (scratch[at]! & 0x80) at++;
  return Buffer.from(scratch.subarray(at + 1));
}

function group(w: WorkloadMsg, uidPrefixText: string): Group {
  return {
    ns: fieldsOf(w, ['namespace']),
    a: fieldsOf(w, ['network', 'tunnelProtocol', 'trustDomain', 'serviceAccount', 'waypoint']),
    b: fieldsOf(w, ['canonicalName', 'canonicalRevision', 'workloadType']),
    c: fieldsOf(w, ['nativeTunnel', 'authorizationPolicies']),
    d: fieldsOf(w, ['clusterId', 'networkGateway']),
    e: fieldsOf(w, ['hostname', 'services']),
    uidPrefix: Buffer.from(uidPrefixText, 'latin1'),
    uidPrefixText,
  };
}

const NONE: readonly Buffer[] = [];

/** A canonical dotted quad (what the registry keeps) as a 32-bit number, in one pass; -1 for anything else. */
function parseV4(ip: string): number {
  let v = 0;
  let n = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < ip.length; i++) {
    const c = ip.charCodeAt(i);
    if (c === 0x2e) {
      if (digits === 0 || n > 255 || ++dots > 3) return -1;
      v = v * 256 + n;
      n = 0;
      digits = 0;
    } else {
      const d = c - 48;
      if (d < 0 || d > 9) return -1;
      n = n * 10 + d;
      digits++;
    }
  }
  return dots === 3 && digits > 0 && n <= 255 ? v * 256 + n : -1;
}

/** Every length this prototype writes fits two varint bytes (a pod's Address is far below 16 KiB). */
const varintLen = (n: number): number => (n < 0x80 ? 1 : 2);

export function putVarint(b: Buffer, at: number, n: number): number {
  if (n < 0x80) {
    b[at] = n;
    return at + 1;
  }
  if (n >= 0x4000) throw new RangeError(`length ${n} needs more than two varint bytes`);
  b[at] = (n & 0x7f) | 0x80;
  b[at + 1] = n >>> 7;
  return at + 2;
}

function copy(b: Buffer, at: number, src: Buffer): number {
  const n = src.length;
  if (n <= 24) for (let i = 0; i < n; i++) b[at + i] = src[i]!;
  else b.set(src, at);
  return at + n;
}

/** An ASCII string field (Kubernetes names are): tag, length, characters. */
function putAscii(b: Buffer, at: number, tag: number, s: string): number {
  b[at] = tag; // one byte: fields 1-15
  at = putVarint(b, at + 1, s.length);
  for (let i = 0; i < s.length; i++) b[at + i] = s.charCodeAt(i);
  return at + s.length;
}

const strField = (tagLen: number, s: string): number => tagLen + varintLen(s.length) + s.length;

/** The first loads of each pod, over a shard before it is written (as translate's touchPod, ShardTable.mapFrom). */
const touchPod = (p: PodObj): number =>
  p.name.length + p.ips.length + (p.ips[0]?.length ?? 0) + (p.labels['app']?.length ?? 0);

/** One generation's arena and group pieces; write() encodes one pod after the other into the arena. */
class PodBytesWriter {
  arena: Buffer;
  at = 0;
  count = 0;
  readonly at6: Uint32Array;
  private readonly byNs = new Map<string, NsGroups>();
  private readonly byNode = new Map<string, Buffer>();

  constructor(
    private readonly ctx: TranslateContext,
    n: number,
  ) {
    this.arena = Buffer.allocUnsafe(n * 320);
    this.at6 = new Uint32Array(SLOTS * n);
  }

  /** Writes p's Address into the arena: its index, or undefined for a pod that has none. */
  write(p: PodObj): number | undefined {
    if (p.ips.length === 0 || TERMINAL.has(p.phase)) return undefined;
    let nsg = this.byNs.get(p.namespace);
    if (nsg === undefined) {
      // The bench mesh selects on `app` alone (translate's NamespaceInfo.selectionLabel).
      nsg = { label: 'app', byValue: new Map() };
      this.byNs.set(p.namespace, nsg);
    }
    const value = p.labels[nsg.label];
    let g = nsg.byValue.get(value);
    const node = p.nodeName;
    let loc = node === undefined ? undefined : this.byNode.get(node);
    if (g === undefined || (node !== undefined && loc === undefined)) {
      const w = buildPodWorkload(p, this.ctx)!;
      if (g === undefined) {
        g = group(w, w.uid.slice(0, w.uid.length - p.name.length));
        nsg.byValue.set(value, g);
      }
      if (node !== undefined && loc === undefined) {
        loc = fieldsOf(w, ['locality', 'networkMode']);
        this.byNode.set(node, loc);
      }
    }
    const name = p.name;
    // One IPv4 address (the bench mesh's pods) is parsed from its string, one load from the pod; the registry's
    // bytes (PodObj.ipBytes) are three (array, Buffer, backing store), and a profile put a third of this
    // function on those loads.
    const v4 = p.ips.length === 1 ? parseV4(p.ips[0]!) : -1;
    const bytes = v4 >= 0 ? NONE : (p.ipBytes ?? p.ips.map((ip) => ipToBytes(ip)!));
    const unhealthy = !p.ready || p.deleting;
    const uidLen = g.uidPrefix.length + name.length;
    let addrLen = v4 >= 0 ? 6 : 0;
    for (let i = 0; i < bytes.length; i++) addrLen += 2 + bytes[i]!.length; // tag, length (< 128), bytes
    const body =
      strField(1, name) +
      g.ns.length +
      addrLen +
      g.a.length +
      (node === undefined ? 0 : strField(1, node)) +
      g.b.length +
      strField(1, name) +
      g.c.length +
      (unhealthy ? 3 : 0) +
      g.d.length +
      2 +
      varintLen(uidLen) +
      uidLen +
      g.e.length +
      (loc?.length ?? 0);
    const room = HEAD_ROOM + 1 + varintLen(body) + body + 3 + uidLen;
    let arena = this.arena;
    let at = this.at;
    if (at + room > arena.length) {
      const next = Buffer.allocUnsafe(arena.length * 2);
      arena.copy(next, 0, 0, at);
      this.arena = arena = next;
    }
    const i = this.count++;
    const o = this.at6;
    const s = SLOTS * i;
    at += HEAD_ROOM;
    o[s + MSG] = at;
    arena[at++] = 0x0a; // Address.workload
    at = putVarint(arena, at, body);
    at = putAscii(arena, at, 0x0a, name); // 1 name
    at = copy(arena, at, g.ns);
    if (v4 >= 0) {
      arena[at++] = 0x1a; // 3 addresses
      arena[at++] = 4;
      arena[at++] = v4 >>> 24;
      arena[at++] = (v4 >>> 16) & 0xff;
      arena[at++] = (v4 >>> 8) & 0xff;
      arena[at++] = v4 & 0xff;
    }
    for (let k = 0; k < bytes.length; k++) {
      const ip = bytes[k]!;
      arena[at++] = 0x1a; // 3 addresses
      arena[at++] = ip.length;
      at = copy(arena, at, ip);
    }
    at = copy(arena, at, g.a);
    if (node !== undefined) at = putAscii(arena, at, 0x4a, node); // 9 node
    at = copy(arena, at, g.b);
    at = putAscii(arena, at, 0x6a, name); // 13 workload_name
    at = copy(arena, at, g.c);
    if (unhealthy) {
      arena[at++] = 0x88; // 17 status = UNHEALTHY
      arena[at++] = 0x01;
      arena[at++] = 0x01;
    }
    at = copy(arena, at, g.d);
    arena[at++] = 0xa2; // 20 uid
    arena[at++] = 0x01;
    at = putVarint(arena, at, uidLen);
    o[s + UID] = at;
    at = copy(arena, at, g.uidPrefix);
    for (let k = 0; k < name.length; k++) arena[at + k] = name.charCodeAt(k);
    at += name.length;
    at = copy(arena, at, g.e);
    if (loc !== undefined) at = copy(arena, at, loc);
    o[s + MSG_END] = at;
    this.at = at + 3 + uidLen;
    return i;
  }
}

/**
 * The timed part: every pod of the snapshot to its encoded Address, in one pass over the registry's pod shards as
 * a full translation makes it (ShardTable.mapFrom, each shard touched first), and the key -> index table.
 */
export function encodePods(snapshot: RegistrySnapshot, mesh: MeshContext): EncodedOutput {
  const ctx: TranslateContext = buildContext(snapshot, mesh);
  const pods = snapshot.pods;
  if (!(pods instanceof FrozenMap)) throw new Error("the prototype reads the registry snapshot's FrozenMap of pods");
  const w = new PodBytesWriter(ctx, pods.size);
  const names = ShardTable.mapFrom(pods as FrozenMap<PodObj>, (p) => w.write(p), touchPod);
  return {
    arena: w.arena,
    at: w.at6,
    names,
    uidPrefix: workloadUidForPod(mesh.clusterId, '', '').slice(0, -1),
  };
}

/**
 * Pods whose prototype message differs from the real encoder's encoding of the translation's Address, or whose
 * uid is not where the offsets say (0: none).
 */
export function verifyEncoded(out: EncodedOutput, addresses: ReadonlyMap<string, AddressMsg>): number {
  let bad = 0;
  const { arena, at } = out;
  out.names.forEach((i, key) => {
    const uid = out.uidPrefix + key;
    const m = addresses.get(uid);
    const s = SLOTS * i;
    const got = arena.subarray(at[s + MSG], at[s + MSG_END]);
    const start = m ? ADDRESS.writeBack(m, scratch, scratch.length) : scratch.length;
    const u = at[s + UID]!;
    if (!m || !got.equals(scratch.subarray(start)) || arena.toString('latin1', u, u + uid.length) !== uid) bad++;
  });
  return bad;
}
