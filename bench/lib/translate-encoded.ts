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
 * arena; the output is the arena, one offset pair per pod, and the
 * name → index map in the container a translation returns (CowMap, frozen).
 *
 * It covers the pods of meshes whose per-group fields depend on the group
 * alone (the bench mesh: the service account and canonical names follow the
 * app label); verifyEncoded checks every pod's bytes equal the real encoder's
 * encoding of the translation's message, so a mesh outside that shape fails
 * the check rather than passing silently. Services, policies and other
 * kinds are not in it: pods are 98 % of the resources at 50k workloads.
 */
import type { PodObj } from '../../pkg/model';
import { CowMap } from '../../pkg/registry';
import type { FrozenMap, RegistrySnapshot } from '../../pkg/registry';
import { buildContext, buildPodWorkload } from '../../pkg/translate';
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

export interface EncodedOutput {
  arena: Buffer;
  /** Pod i's Address is arena[offsets[2i], offsets[2i+1]). */
  offsets: Uint32Array;
  names: FrozenMap<number>;
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

/** A canonical dotted quad (what the registry keeps) as a 32-bit number; -1 for anything else. */
function parseV4(ip: string): number {
  let v = 0;
  let at = 0;
  for (let octet = 0; octet < 4; octet++) {
    const end = octet < 3 ? ip.indexOf('.', at) : ip.length;
    if (end <= at) return -1;
    let n = 0;
    for (let i = at; i < end; i++) {
      const d = ip.charCodeAt(i) - 48;
      if (d < 0 || d > 9) return -1;
      n = n * 10 + d;
    }
    if (n > 255) return -1;
    v = v * 256 + n;
    at = end + 1;
  }
  return v;
}

/** Every length this prototype writes fits two varint bytes (a pod's Address is far below 16 KiB). */
const varintLen = (n: number): number => (n < 0x80 ? 1 : 2);

function putVarint(b: Buffer, at: number, n: number): number {
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

/** The timed part: every pod of the snapshot to its encoded Address, and the name → index map. */
export function encodePods(snapshot: RegistrySnapshot, mesh: MeshContext): EncodedOutput {
  const ctx: TranslateContext = buildContext(snapshot, mesh);
  const n = snapshot.pods.size;
  let arena = Buffer.allocUnsafe(n * 320);
  const offsets = new Uint32Array(2 * n);
  const names = new Array<string>(n);
  const idx = new Array<number>(n);
  const byNs = new Map<string, NsGroups>();
  const byNode = new Map<string, Buffer>();
  let at = 0;
  let count = 0;
  // A plain loop over an array: the closure forEach takes would keep `arena`, `at` and `count` in a context
  // (measured: several times slower per pod).
  const pods = new Array<PodObj>(n);
  let k = 0;
  snapshot.pods.forEach((p: PodObj) => (pods[k++] = p));
  for (let pi = 0; pi < n; pi++) {
    const p = pods[pi]!;
    if (p.ips.length === 0 || TERMINAL.has(p.phase)) continue;
    let nsg = byNs.get(p.namespace);
    if (nsg === undefined) {
      // The bench mesh selects on `app` alone (translate's NamespaceInfo.selectionLabel).
      nsg = { label: 'app', byValue: new Map() };
      byNs.set(p.namespace, nsg);
    }
    const value = p.labels[nsg.label];
    let g = nsg.byValue.get(value);
    let loc = p.nodeName === undefined ? undefined : byNode.get(p.nodeName);
    if (g === undefined || (p.nodeName !== undefined && loc === undefined)) {
      const w = buildPodWorkload(p, ctx)!;
      if (g === undefined) {
        g = group(w, w.uid.slice(0, w.uid.length - p.name.length));
        nsg.byValue.set(value, g);
      }
      if (p.nodeName !== undefined && loc === undefined) {
        loc = fieldsOf(w, ['locality', 'networkMode']);
        byNode.set(p.nodeName, loc);
      }
    }
    const name = p.name;
    // One IPv4 address (the bench mesh's pods) is parsed from its string: that string is one memory load away from
    // the pod, where the registry's bytes are three (array, Buffer object, backing store).
    const v4 = p.ips.length === 1 ? parseV4(p.ips[0]!) : -1;
    const bytes = v4 >= 0 ? NONE : p.ipBytes!;
    const node = p.nodeName;
    const unhealthy = !p.ready || p.deleting;
    const uidLen = g.uidPrefix.length + name.length;
    let addrLen = v4 >= 0 ? 6 : 0;
    for (const b of bytes) addrLen += 1 + varintLen(b.length) + b.length;
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
    if (at + body + 4 > arena.length) {
      const next = Buffer.allocUnsafe(arena.length * 2);
      arena.copy(next, 0, 0, at);
      arena = next;
    }
    offsets[2 * count] = at;
    arena[at++] = 0x0a; // Address.workload
    at = putVarint(arena, at, body);
    at = putAscii(arena, at, 0x0a, name); // 1 name
    at = copy(arena, at, g.ns);
    if (v4 >= 0) {
      arena[at++] = 0x1a; // 3 addresses
      arena[at++] = 4;
      arena.writeUInt32BE(v4, at);
      at += 4;
    }
    for (const b of bytes) {
      arena[at++] = 0x1a; // 3 addresses
      at = putVarint(arena, at, b.length);
      at = copy(arena, at, b);
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
    at = copy(arena, at, g.uidPrefix);
    for (let i = 0; i < name.length; i++) arena[at + i] = name.charCodeAt(i);
    at += name.length;
    at = copy(arena, at, g.e);
    if (loc !== undefined) at = copy(arena, at, loc);
    offsets[2 * count + 1] = at;
    names[count] = g.uidPrefixText + name;
    idx[count] = count;
    count++;
  }
  names.length = count;
  idx.length = count;
  return { arena, offsets, names: CowMap.fromEntries(names, idx).freeze() };
}

/** Pods whose prototype bytes differ from the real encoder's encoding of the translation's Address (0: none). */
export function verifyEncoded(out: EncodedOutput, addresses: ReadonlyMap<string, AddressMsg>): number {
  let bad = 0;
  out.names.forEach((i, name) => {
    const m = addresses.get(name);
    const got = out.arena.subarray(out.offsets[2 * i], out.offsets[2 * i + 1]);
    const start = m ? ADDRESS.writeBack(m, scratch, scratch.length) : scratch.length;
    if (!m || !got.equals(scratch.subarray(start))) bad++;
  });
  return bad;
}
