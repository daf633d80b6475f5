/**
 * A measured prototype of the design docs/design/encode-floor.md names to
 * pass issue #20 targets 1 and 3 together: translating pods straight to
 * their encoded Address messages, with no message object in between.
 *
 * Per pod it computes what pkg/translate's PodWorkload computes and writes
 * the fields as it goes, in field-number order, into one arena, with room
 * around each message for its frame (encoded-entries.ts makes the frame
 * there, no copy). What many pods share is encoded once: the Service and
 * policy selection (pkg/translate's shared Selection, per namespace and
 * selecting label value) as the bytes of its two fields, a node's locality,
 * and the mesh's constant fields. A pod outside that path (listed by an
 * EndpointSlice, selected on several labels, a named target port, host
 * network, another network) is built by buildPodWorkload and written by the
 * generated encoder, then copied in: the prototype covers every pod.
 *
 * The pass over the pods is a full translation's (ShardTable.mapFrom over
 * the registry's pod shards, each shard touched first); the output is the
 * arena, three offsets per pod and the registry key -> index table (no key
 * hashed). verifyEncoded checks every pod's message against the real
 * encoder's encoding of the real translation's. Services, policies and
 * other kinds are not in it: pods are 98 % of the resources at 50k
 * workloads. Its session-12 form (a loop over a copied pod array, a name
 * map hashing every uid, groups keyed on the bench mesh's app label) cost
 * 1.8-2.4 µs per pod at 50k; this one 1.44-1.55 (docs/design/encode-floor.md,
 * session 24), 1.69 in session 25. Its output has no value per pod, which a
 * product output needs: built in the product (branch design/pod-bytes), the
 * translation measured 1.9-2.45 µs per resource and a full push at 50k cost
 * more than today's (encode-floor.md, session 25).
 */
import { ANNOTATION, ipToBytes, ipv4Value, LABEL, type PodObj, type StringMap } from '../../pkg/model';
import { FrozenMap, ShardTable } from '../../pkg/registry';
import type { RegistrySnapshot } from '../../pkg/registry';
import {
  buildContext,
  buildPodWorkload,
  namespaceInfo,
  podWorkloadName,
  sharedSelection,
  TunnelProtocol,
  workloadUidForPod,
  WorkloadType,
} from '../../pkg/translate';
import type { AddressMsg, MeshContext, Selection, TranslateContext, WorkloadMsg } from '../../pkg/translate';
import { CODECS, NameMarks } from '../../pkg/wire';
import { copy, putChars, putStr, putVarint, strField, varintSize } from './pb-forward';

const ADDRESS = CODECS['istio.workload.Address'];
const TERMINAL = new Set(['Succeeded', 'Failed']);

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
  /** Pods written by the general path (built, then encoded by the generated encoder). */
  generalPods: number;
}

const scratch = Buffer.allocUnsafe(1 << 16);

/** The fields of w (an Address's Workload, uid empty) as bytes, without the Address and Workload headers. */
function fieldsOf(w: WorkloadMsg): Buffer {
  const start = ADDRESS.writeBack({ workload: w }, scratch, scratch.length);
  let at = start + 1; // Address.workload's tag, then its length varint
  while (scratch[at]! & 0x80) at++;
  return Buffer.from(scratch.subarray(at + 1));
}

/** A shared selection's two fields as bytes: authorization_policies (16) and services (22). */
interface SelectionBytes {
  readonly policies: Buffer;
  readonly services: Buffer;
}

/** Whether a pod's traffic is captured (pkg/translate's `captured`, host network excluded before). */
const captured = (labels: StringMap, annotations: StringMap, ns: StringMap | undefined): boolean =>
  annotations[ANNOTATION.redirection] === 'enabled' ||
  (labels[LABEL.dataplaneMode] !== 'none' &&
    (labels[LABEL.dataplaneMode] === 'ambient' || ns?.[LABEL.dataplaneMode] === 'ambient'));

/** The first loads of each pod, over a shard before it is written (as translate's touchPod, ShardTable.mapFrom). */
const touchPod = (p: PodObj): number =>
  p.name.length + p.ips.length + (p.ips[0]?.length ?? 0) + (p.labels['app']?.length ?? 0);

const NONE: readonly Buffer[] = [];
const EMPTY = Buffer.alloc(0);

/** One generation's arena and shared pieces; write() encodes one pod after the other into the arena. */
class PodBytesWriter {
  arena: Buffer;
  at = 0;
  count = 0;
  general = 0;
  readonly offsets: Uint32Array;
  private readonly selections = new Map<Selection, SelectionBytes>();
  private readonly localities = new Map<string, Buffer>();
  private readonly marks = new NameMarks();
  /** The mesh's constant fields: trust domain (6), workload type POD (12), cluster id (18). */
  private readonly trust: Buffer;
  private readonly type = fieldsOf({ uid: '', workloadType: WorkloadType.POD });
  private readonly cluster: Buffer;
  private readonly hbone = fieldsOf({ uid: '', tunnelProtocol: TunnelProtocol.HBONE });
  private readonly native = fieldsOf({ uid: '', nativeTunnel: true });

  constructor(
    private readonly ctx: TranslateContext,
    n: number,
  ) {
    this.arena = Buffer.allocUnsafe(n * 320);
    this.offsets = new Uint32Array(SLOTS * n);
    const { trustDomain, clusterId } = ctx.mesh;
    this.trust = trustDomain && trustDomain !== 'cluster.local' ? fieldsOf({ uid: '', trustDomain }) : EMPTY;
    this.cluster = clusterId ? fieldsOf({ uid: '', clusterId }) : EMPTY;
  }

  /** Writes p's Address into the arena: its index, or undefined for a pod that has none. */
  write(p: PodObj): number | undefined {
    if (p.ips.length === 0 || TERMINAL.has(p.phase)) return undefined;
    const ctx = this.ctx;
    const ns = p.namespace;
    const labels = p.labels;
    const info = namespaceInfo(ctx, ns);
    const listed = ctx.sliceServicesByPod.size > 0 && ctx.sliceServicesByPod.has(`${ns}/${p.name}`);
    const sel = listed || p.hostNetwork ? undefined : sharedSelection(ctx, ns, info, labels);
    const net = labels[LABEL.network] || info.labels?.[LABEL.network] || ctx.mesh.network;
    if (sel === undefined || net !== ctx.mesh.network) return this.built(p);
    let sb = this.selections.get(sel);
    if (sb === undefined) {
      sb = {
        policies: fieldsOf({ uid: '', authorizationPolicies: sel.policies }),
        services: fieldsOf({ uid: '', services: sel.services }),
      };
      this.selections.set(sel, sb);
    }
    const node = p.nodeName;
    let loc = node ? this.localities.get(node) : EMPTY;
    if (loc === undefined) {
      loc = fieldsOf({ uid: '', locality: buildPodWorkload(p, ctx)!.locality });
      this.localities.set(node!, loc);
    }
    const name = p.name;
    const native = labels[LABEL.tunnel] === 'http';
    const hbone = native || captured(labels, p.annotations, info.labels);
    const sa = p.serviceAccount;
    const wl = podWorkloadName(p);
    const canon = labels[LABEL.canonicalName] || labels[LABEL.k8sAppName] || labels[LABEL.app] || wl;
    const rev = labels[LABEL.canonicalRevision] || labels[LABEL.k8sAppVersion] || labels[LABEL.version] || 'latest';
    // One IPv4 address is parsed from its string, one load from the pod; the registry's bytes (PodObj.ipBytes) are
    // three (array, Buffer, backing store), and a profile put a third of this function on those loads.
    const v4 = p.ips.length === 1 ? ipv4Value(p.ips[0]!) : -1;
    const bytes = v4 >= 0 ? NONE : (p.ipBytes ?? p.ips.map((ip) => ipToBytes(ip)!));
    const unhealthy = !p.ready || p.deleting;
    const prefix = info.podUidPrefix;
    const uidLen = prefix.length + name.length;
    let addrLen = v4 >= 0 ? 6 : 0;
    for (let k = 0; k < bytes.length; k++) addrLen += 2 + bytes[k]!.length; // tag, length (< 128), bytes
    const body =
      strField(name) +
      strField(ns) +
      addrLen +
      strField(net) +
      (hbone ? this.hbone.length : 0) +
      this.trust.length +
      strField(sa) +
      strField(node) +
      strField(canon) +
      strField(rev) +
      this.type.length +
      strField(wl) +
      (native ? this.native.length : 0) +
      sb.policies.length +
      (unhealthy ? 3 : 0) +
      this.cluster.length +
      2 +
      varintSize(uidLen) +
      uidLen +
      sb.services.length +
      loc.length;
    let at = this.reserve(HEAD_ROOM + 1 + varintSize(body) + body + 3 + uidLen);
    const arena = this.arena;
    const s = SLOTS * this.count;
    this.offsets[s + MSG] = at;
    arena[at++] = 0x0a; // Address.workload
    at = putVarint(arena, at, body);
    at = putStr(arena, at, 0x0a, name); // 1 name
    at = putStr(arena, at, 0x12, ns); // 2 namespace
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
    at = putStr(arena, at, 0x22, net); // 4 network
    if (hbone) at = copy(arena, at, this.hbone); // 5 tunnel_protocol
    at = copy(arena, at, this.trust); // 6 trust_domain
    at = putStr(arena, at, 0x3a, sa); // 7 service_account
    at = putStr(arena, at, 0x4a, node); // 9 node
    at = putStr(arena, at, 0x52, canon); // 10 canonical_name
    at = putStr(arena, at, 0x5a, rev); // 11 canonical_revision
    at = copy(arena, at, this.type); // 12 workload_type
    at = putStr(arena, at, 0x6a, wl); // 13 workload_name
    if (native) at = copy(arena, at, this.native); // 14 native_tunnel
    at = copy(arena, at, sb.policies); // 16 authorization_policies
    if (unhealthy) {
      arena[at++] = 0x88; // 17 status = UNHEALTHY
      arena[at++] = 0x01;
      arena[at++] = 0x01;
    }
    at = copy(arena, at, this.cluster); // 18 cluster_id
    arena[at++] = 0xa2; // 20 uid
    arena[at++] = 0x01;
    at = putVarint(arena, at, uidLen);
    this.offsets[s + UID] = at;
    at = putChars(arena, putChars(arena, at, prefix), name);
    at = copy(arena, at, sb.services); // 22 services
    at = copy(arena, at, loc); // 24 locality
    return this.done(at, uidLen);
  }

  /** A pod outside the shared path: the real translation's Workload, written by the generated encoder. */
  private built(p: PodObj): number | undefined {
    const w = buildPodWorkload(p, this.ctx);
    if (!w) return undefined;
    this.general++;
    this.marks.reset(w.uid);
    const start = ADDRESS.writeBack({ workload: w }, scratch, scratch.length, this.marks);
    const len = scratch.length - start;
    let at = this.reserve(HEAD_ROOM + len + 3 + w.uid.length);
    const s = SLOTS * this.count;
    this.offsets[s + MSG] = at;
    this.offsets[s + UID] = at + this.marks.first - start;
    at = copy(this.arena, at, scratch.subarray(start));
    return this.done(at, w.uid.length);
  }

  /** Room for `room` more bytes; where the next message starts (after its head room). */
  private reserve(room: number): number {
    if (this.at + room > this.arena.length) {
      const next = Buffer.allocUnsafe(Math.max(2 * this.arena.length, this.at + room));
      this.arena.copy(next, 0, 0, this.at);
      this.arena = next;
    }
    return this.at + HEAD_ROOM;
  }

  /** Records the message's end and leaves room after it for Resource.name's field. */
  private done(end: number, uidLen: number): number {
    this.offsets[SLOTS * this.count + MSG_END] = end;
    this.at = end + 3 + uidLen;
    return this.count++;
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
    at: w.offsets,
    names,
    uidPrefix: workloadUidForPod(mesh.clusterId, '', '').slice(0, -1),
    generalPods: w.general,
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
