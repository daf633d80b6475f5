import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import * as protobuf from 'protobufjs';
import { systemClock } from '../../lifecycle';
import { createSilentLogger } from '../../log';
import { bytesToIp } from '../../model';
import { FileSource, LocalRegistry, parseManifest } from '../../registry';
import type { RawObject } from '../../registry';
import type { LocalOutput, MeshContext } from '../types';

/** Test-only helpers (excluded from the npm package by the testing/ folder rule). */

export const REPO_ROOT = path.resolve(__dirname, '../../../..');
export const TESTDATA = path.join(REPO_ROOT, 'pkg/translate/testdata');

export const DEFAULT_MESH: MeshContext = {
  clusterId: 'Kubernetes',
  network: '',
  trustDomain: 'cluster.local',
  domainSuffix: 'cluster.local',
  rootNamespace: 'istio-system',
};

/**
 * A registry loaded from a directory of manifests in the repository (e.g. a shipped example mesh), through the
 * FileSource the daemon uses; close the source when done.
 */
export async function loadMeshDir(dir: string): Promise<{ registry: LocalRegistry; source: FileSource }> {
  const registry = new LocalRegistry({ logger: createSilentLogger(), clock: systemClock });
  const source = new FileSource({
    dir: path.join(REPO_ROOT, dir),
    registry,
    logger: createSilentLogger(),
    clock: systemClock,
  });
  await source.start();
  return { registry, source };
}

/**
 * Loads a fixture: multi-document YAML of Kubernetes objects; an optional
 * document of kind TestMeshContext overrides fields of DEFAULT_MESH.
 */
export function loadFixture(file: string): { registry: LocalRegistry; mesh: MeshContext } {
  const parsed = parseManifest(readFileSync(file, 'utf8'), path.basename(file));
  if (parsed.errors.length > 0) throw new Error(`fixture ${file}: ${JSON.stringify(parsed.errors)}`);
  let mesh = DEFAULT_MESH;
  const objs: { obj: RawObject; origin: string }[] = [];
  for (const o of parsed.objects) {
    if (o.obj['kind'] === 'TestMeshContext') mesh = { ...DEFAULT_MESH, ...(o.obj['spec'] as Partial<MeshContext>) };
    else objs.push(o);
  }
  const registry = new LocalRegistry({ logger: createSilentLogger(), clock: systemClock });
  registry.replaceSource('fixture', objs);
  const rej = registry.snapshot().rejected;
  if (rej.length > 0) throw new Error(`fixture ${file} has rejected objects: ${JSON.stringify(rej)}`);
  return { registry, mesh };
}

/** JSON-friendly form: Buffers of 4/16 bytes become "ip:<addr>", maps become sorted objects. */
export function toJsonable(v: unknown): unknown {
  if (v instanceof Uint8Array)
    return v.length === 4 || v.length === 16 ? `ip:${bytesToIp(v)}` : `bytes:${Buffer.from(v).toString('hex')}`;
  if (Array.isArray(v)) return v.map(toJsonable);
  if (v instanceof Map) {
    const o: Record<string, unknown> = {};
    for (const k of [...v.keys()].sort()) o[k] = toJsonable(v.get(k));
    return o;
  }
  if (typeof v === 'object' && v !== null) {
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) o[k] = toJsonable(x);
    return o;
  }
  return v;
}

export function outputJson(out: LocalOutput): { addresses: unknown; authorizations: unknown } {
  return {
    addresses: toJsonable(new Map(out.addresses)),
    authorizations: toJsonable(new Map(out.authorizations)),
  };
}

/**
 * protobufjs root for our wire schema, resolving `istio/...` imports against proto/ (and google/* from protobufjs'
 * bundled copies when absent).
 */
export function loadProtoRoot(): protobuf.Root {
  const protoDir = path.join(REPO_ROOT, 'proto');
  const root = new protobuf.Root();
  root.resolvePath = (_origin: string, target: string): string => {
    if (path.isAbsolute(target)) return target;
    const p = path.join(protoDir, target);
    try {
      readFileSync(p);
      return p;
    } catch {
      return target; // e.g. google/protobuf/empty.proto: protobufjs ships these
    }
  };
  root.loadSync(['istio/workload/workload.proto', 'istio/security/authorization.proto']);
  root.resolveAll();
  return root;
}

/** Deterministic PRNG (mulberry32) for property tests. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
