/**
 * The allocation floor of a full translation (issue #20 target 3): what
 * building the output alone costs, with nothing to look up or decide. For
 * every Address and Authorization of a translation's output it makes one
 * message object of the same shape (the same own keys in the same order, the
 * Address wrapper too) whose fields are copied from precomputed values, and
 * puts them into the same output container under precomputed names: the pods'
 * Addresses into a ShardTable of the translation's layout (each shard's keys
 * array copied, its values array filled), the other Addresses and the
 * Authorizations into CowMap.fromEntries, frozen. Sub-objects (address bytes,
 * services maps, policy lists, rules) are shared with the template, so this
 * is a lower bound: translate
 * also has to build the strings and sub-objects the floor is given.
 *
 * Each distinct shape gets a function with one object literal, compiled once
 * before the timing (`new Function`): V8 then allocates every message with its
 * final map in one step, the cheapest way a JS object of that shape can be
 * made.
 */
import { CowMap, shardOf, ShardTable } from '../../pkg/registry';
import type { RegistrySnapshot } from '../../pkg/registry';
import { AddressTable } from '../../pkg/translate';
import type { AddressMsg, AuthorizationMsg, LocalOutput, PodAddress } from '../../pkg/translate';

type Make = (s: object) => unknown;

interface Part {
  names: string[];
  sources: object[];
  makers: Make[];
}

/** The pods' part of an AddressTable: per pod its shard, and each shard's keys as the translation left them. */
interface PodPart extends Part {
  prefix: string;
  shardOf: number[];
  keys: (string[] | undefined)[];
}

export interface FloorInput {
  pods: PodPart | undefined;
  addresses: Part;
  authorizations: Part;
}

/** One literal per shape: `{ k1: s.k1, ... }`, optionally wrapped as `{ wrap: {...} }`. */
function maker(cache: Map<string, Make>, keys: string[], wrap: string | undefined): Make {
  const id = `${wrap ?? ''}:${keys.join(',')}`;
  let f = cache.get(id);
  if (!f) {
    const body = `{ ${keys.map((k) => `${JSON.stringify(k)}: s[${JSON.stringify(k)}]`).join(', ')} }`;
    // Keys are the message's own field names (from the translation's output), quoted.
    // eslint-disable-next-line @typescript-eslint/no-implied-eval -- the floor is a literal generated per shape
    f = new Function('s', `return ${wrap ? `{ ${JSON.stringify(wrap)}: ${body} }` : body};`) as Make;
    cache.set(id, f);
  }
  return f;
}

/** Precomputes names, field sources and one literal maker per message of `out`. */
export function floorInput(out: LocalOutput): FloorInput {
  const cache = new Map<string, Make>();
  const table = out.addresses instanceof AddressTable ? out.addresses : undefined;
  let pods: PodPart | undefined;
  if (table) {
    const n = table.pods.shardCount;
    pods = {
      prefix: table.podPrefix,
      names: [],
      sources: [],
      makers: [],
      shardOf: [],
      keys: new Array<string[] | undefined>(n).fill(undefined),
    };
    const p = pods;
    table.pods.forEach((a: PodAddress, key: string) => {
      const i = shardOf(key, n);
      (p.keys[i] ??= []).push(key);
      p.names.push(key);
      p.shardOf.push(i);
      p.sources.push(a.workload);
      p.makers.push(maker(cache, Object.keys(a.workload), 'workload'));
    });
  }
  const addresses: Part = { names: [], sources: [], makers: [] };
  (table ? table.rest : out.addresses).forEach((a: AddressMsg, name: string) => {
    const [wrap, msg] = 'workload' in a ? ['workload', a.workload] : ['service', a.service];
    addresses.names.push(name);
    addresses.sources.push(msg);
    addresses.makers.push(maker(cache, Object.keys(msg), wrap));
  });
  const authorizations: Part = { names: [], sources: [], makers: [] };
  out.authorizations.forEach((m: AuthorizationMsg, name: string) => {
    authorizations.names.push(name);
    authorizations.sources.push(m);
    authorizations.makers.push(maker(cache, Object.keys(m), undefined));
  });
  return { pods, addresses, authorizations };
}

function build(p: Part): unknown {
  const n = p.names.length;
  const msgs: unknown[] = new Array(n);
  for (let i = 0; i < n; i++) msgs[i] = p.makers[i]!(p.sources[i]!);
  return CowMap.fromEntries(p.names, msgs).freeze();
}

/** The pods' table: each shard's keys array copied and its values array filled, in the translation's order. */
function buildPods(p: PodPart): ShardTable<PodAddress> {
  const vals = p.keys.map((k) => (k ? new Array<PodAddress>(0) : undefined));
  for (let i = 0; i < p.names.length; i++) vals[p.shardOf[i]!]!.push(p.makers[i]!(p.sources[i]!) as PodAddress);
  const shards = p.keys.map((k, i) => (k ? { keys: k.slice(), vals: vals[i]! } : undefined));
  return new ShardTable(shards, p.names.length);
}

/** The timed part: every message made and put in its frozen output map. */
export function floorBuild(f: FloorInput): unknown[] {
  const rest = build(f.addresses) as ReturnType<CowMap<AddressMsg>['freeze']>;
  const addresses = f.pods ? new AddressTable(f.pods.prefix, buildPods(f.pods), rest) : rest;
  return [addresses, build(f.authorizations)];
}

/**
 * The other floor: reading the inputs. Every pod of the snapshot visited in
 * the order a translation visits them (the snapshot map's forEach), each
 * field a pod's Workload is built from read once (strings to their last
 * character, labels by the keys a translation tests), nothing built. With
 * floorBuild this bounds a translation from below: it must read these and
 * make those.
 */
export function inputsRead(snapshot: RegistrySnapshot): number {
  let h = 0;
  snapshot.pods.forEach((p) => {
    const l = p.labels;
    const ip = p.ips[0] ?? '';
    h += p.name.charCodeAt(p.name.length - 1) + p.namespace.length + ip.charCodeAt(ip.length - 1);
    h += (l['app'] ?? '').length + (l['topology.istio.io/network'] ?? '').length + (l['version'] ?? '').length;
    h += (p.nodeName ?? '').length + p.serviceAccount.length + p.phase.length + (p.ready ? 1 : 0);
    h += p.annotations['ambient.istio.io/redirection'] === undefined ? 0 : 1;
  });
  return h;
}
