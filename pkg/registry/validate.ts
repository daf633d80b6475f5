/**
 * Small typed readers for raw Kubernetes objects. Each throws Invalid with a
 * path-qualified reason, so a bad object is rejected alone with a message
 * that says exactly which field was wrong.
 */

export class Invalid extends Error {}

export type Raw = Record<string, unknown>;

export function fail(path: string, msg: string): never {
  throw new Invalid(`${path}: ${msg}`);
}

export function isObj(v: unknown): v is Raw {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function obj(v: unknown, path: string): Raw | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObj(v)) fail(path, `must be an object, got ${typeName(v)}`);
  return v;
}

export function str(v: unknown, path: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') fail(path, `must be a string, got ${typeName(v)}`);
  return v;
}

export function reqStr(v: unknown, path: string): string {
  const s = str(v, path);
  if (s === undefined || s === '') fail(path, 'is required');
  return s;
}

export function bool(v: unknown, path: string): boolean | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') fail(path, `must be a boolean, got ${typeName(v)}`);
  return v;
}

export function int(v: unknown, path: string, min: number, max: number): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v)) fail(path, `must be an integer, got ${typeName(v)}`);
  if (v < min || v > max) fail(path, `${v} is out of range ${min}..${max}`);
  return v;
}

export function port(v: unknown, path: string): number | undefined {
  return int(v, path, 1, 65535);
}

export function arr(v: unknown, path: string): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) fail(path, `must be a list, got ${typeName(v)}`);
  return v;
}

export function strList(v: unknown, path: string): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  return arr(v, path).map((x, i) => {
    if (typeof x !== 'string') fail(`${path}[${i}]`, `must be a string, got ${typeName(x)}`);
    return x;
  });
}

/** The map of no keys, shared: most pods keep no annotation, and every object of a 50k-pod registry stays. */
const EMPTY_MAP: Readonly<Record<string, string>> = Object.freeze({});

/** A string→string map (labels, annotations, selectors). Keys are sorted so equal maps compare equal. */
export function strMap(
  v: unknown,
  path: string,
  keep?: (k: string) => boolean,
  intern?: (s: string) => string,
): Readonly<Record<string, string>> {
  const o = obj(v, path);
  if (!o) return EMPTY_MAP;
  const out: Record<string, string> = {};
  let n = 0;
  for (const k of Object.keys(o).sort()) {
    if (keep && !keep(k)) continue;
    const val = o[k];
    if (typeof val !== 'string') fail(`${path}.${k}`, `must be a string, got ${typeName(val)}`);
    out[k] = intern ? intern(val) : val;
    n++;
  }
  return n ? out : EMPTY_MAP;
}

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export function objectName(v: unknown, path: string): string {
  const s = reqStr(v, path);
  if (s.length > 253 || !DNS1123_SUBDOMAIN.test(s)) fail(path, `"${s}" is not a valid object name`);
  return s;
}

export function namespaceName(v: unknown, path: string): string {
  const s = reqStr(v, path);
  if (s.length > 63 || !DNS1123_LABEL.test(s)) fail(path, `"${s}" is not a valid namespace name`);
  return s;
}

export function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'list';
  return typeof v;
}

/** Structural equality for normalised (JSON-like, frozen) model objects. */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!deepEqual(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  for (const k of ka) {
    if (!Object.prototype.hasOwnProperty.call(b, k)) return false;
    if (!deepEqual((a as Raw)[k], (b as Raw)[k])) return false;
  }
  return true;
}

export function deepFreeze<T>(o: T): T {
  if (typeof o === 'object' && o !== null && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const k in o) {
      const v = (o as Record<string, unknown>)[k];
      if (typeof v === 'object' && v !== null) deepFreeze(v);
    }
  }
  return o;
}

/**
 * Shares equal low-cardinality strings (namespaces, label values, node and
 * service-account names) between the objects of a 50k-pod registry instead
 * of keeping one copy per pod. Bounded: when full it starts over, which only
 * costs some sharing, never correctness.
 */
export class StringPool {
  private pool = new Map<string, string>();
  constructor(private readonly max = 200_000) {}
  readonly intern = (s: string): string => {
    const hit = this.pool.get(s);
    if (hit !== undefined) return hit;
    if (this.pool.size >= this.max) this.pool = new Map();
    this.pool.set(s, s);
    return s;
  };
}
