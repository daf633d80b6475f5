import { X509Certificate } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as YAML from 'yaml';
import { OPTIONS, type OptionSpec } from './schema';
import type { DaemonConfig } from './types';

export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export interface LoadInput {
  /** Parsed --flag values (name without dashes -> raw string). */
  flags?: Record<string, string>;
  env?: Record<string, string | undefined>;
  /** Path of a YAML/JSON config file. */
  file?: string;
  /** Already-read file content (for SIGHUP reloads and tests). */
  fileContent?: string;
}

export function flagName(o: OptionSpec): string {
  return o.flag ?? o.path.replace(/\./g, '-').replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** Go-style durations as istiod accepts them ("100ms", "10s", "1h30m"); bare numbers are ms. */
export function parseDuration(v: string): number | undefined {
  const s = v.trim();
  if (/^\d+(\.\d+)?$/.test(s)) return Number(s);
  const re = /(\d+(?:\.\d+)?)(ms|us|µs|ns|s|m|h|d)/gy;
  let total = 0;
  let matched = 0;
  let m: RegExpExecArray | null;
  const unit: Record<string, number> = {
    ns: 1e-6,
    us: 1e-3,
    µs: 1e-3,
    ms: 1,
    s: 1000,
    m: 60_000,
    h: 3_600_000,
    d: 86_400_000,
  };
  while ((m = re.exec(s)) !== null) {
    total += Number(m[1]) * unit[m[2]!]!;
    matched = re.lastIndex;
  }
  return matched === s.length && matched > 0 ? total : undefined;
}

function coerce(o: OptionSpec, raw: unknown, where: string, problems: string[]): unknown {
  const bad = (why: string): undefined => {
    problems.push(`${o.path} (${where}): ${why}`);
    return undefined;
  };
  switch (o.kind) {
    case 'string':
      if (typeof raw === 'string') return raw;
      if (typeof raw === 'number') return String(raw);
      return void bad(`expected a string, got ${JSON.stringify(raw)}`);
    case 'enum': {
      const s = String(raw);
      return o.values!.includes(s) ? s : void bad(`must be one of ${o.values!.join(', ')}, got "${s}"`);
    }
    case 'bool':
      if (typeof raw === 'boolean') return raw;
      if (['true', '1', 'yes', 'on'].includes(String(raw).toLowerCase())) return true;
      if (['false', '0', 'no', 'off', ''].includes(String(raw).toLowerCase())) return false;
      return void bad(`expected true or false, got "${String(raw)}"`);
    case 'int': {
      const n = typeof raw === 'number' ? raw : /^-?\d+$/.test(String(raw).trim()) ? Number(String(raw).trim()) : NaN;
      if (!Number.isSafeInteger(n)) return void bad(`expected an integer, got "${String(raw)}"`);
      if (o.min !== undefined && n < o.min) return void bad(`must be at least ${o.min}`);
      if (o.max !== undefined && n > o.max) return void bad(`must be at most ${o.max}`);
      return n;
    }
    case 'duration': {
      const n = typeof raw === 'number' ? raw : parseDuration(String(raw));
      if (n === undefined || !Number.isFinite(n) || n < 0)
        return void bad(`expected a duration like 100ms, 10s, 24h; got "${String(raw)}"`);
      if (o.min !== undefined && n < o.min) return void bad(`must be at least ${o.min} ms`);
      return n;
    }
    case 'list':
      if (Array.isArray(raw)) return raw.map(String);
      return String(raw)
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean);
    case 'map': {
      const out: Record<string, string> = {};
      if (raw !== null && typeof raw === 'object' && !Array.isArray(raw)) {
        for (const [k, v] of Object.entries(raw)) {
          if (typeof v !== 'string' && typeof v !== 'number')
            return void bad(`${k}: expected a string, got ${JSON.stringify(v)}`);
          out[k] = String(v);
        }
        return out;
      }
      if (typeof raw !== 'string') return void bad(`expected a mapping or "key=value,...", got ${JSON.stringify(raw)}`);
      for (const part of raw
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean)) {
        const eq = part.indexOf('=');
        if (eq <= 0) return void bad(`"${part}" is not key=value`);
        out[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
      }
      return out;
    }
  }
}

function getPath(obj: unknown, path: string): unknown {
  let cur = obj as Record<string, unknown> | undefined;
  for (const p of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = cur[p] as Record<string, unknown> | undefined;
  }
  return cur;
}

function setPath(obj: Record<string, unknown>, path: string, v: unknown): void {
  const parts = path.split('.');
  let cur = obj;
  for (const p of parts.slice(0, -1)) cur = (cur[p] ??= {}) as Record<string, unknown>;
  cur[parts[parts.length - 1]!] = v;
}

function collectPaths(obj: unknown, prefix: string, out: string[]): void {
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
    out.push(prefix);
    return;
  }
  for (const [k, v] of Object.entries(obj)) collectPaths(v, prefix ? `${prefix}.${k}` : k, out);
}

export function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

export function isLoopbackListen(listen: string): boolean {
  const host = listen.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || (net.isIPv4(host) && host.startsWith('127.'));
}

export function validListen(v: string): boolean {
  const m = /^(.*):(\d+)$/.exec(v);
  if (!m) return false;
  const port = Number(m[2]);
  const host = m[1]!.replace(/^\[|\]$/g, '');
  return port >= 0 && port <= 65535 && (host === 'localhost' || net.isIP(host) !== 0 || /^[a-z0-9.-]+$/i.test(host));
}

/**
 * defaults < file < env < flags for one option table, every problem appended
 * to `problems` (one line each); the caller adds cross-field rules.
 */
export function resolveOptions(
  table: readonly OptionSpec[],
  input: LoadInput,
  problems: string[],
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const o of table) setPath(out, o.path, structuredClone(o.default));

  let fileObj: unknown;
  if (input.file !== undefined || input.fileContent !== undefined) {
    let text = input.fileContent;
    if (text === undefined) {
      try {
        text = fs.readFileSync(input.file!, 'utf8');
      } catch (e) {
        problems.push(`config file ${input.file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
    }
    if (text !== undefined) {
      try {
        fileObj = YAML.parse(text) ?? {};
        if (typeof fileObj !== 'object' || Array.isArray(fileObj)) {
          problems.push(`config file ${input.file ?? ''}: top level must be a mapping`);
          fileObj = {};
        }
      } catch (e) {
        problems.push(`config file ${input.file ?? ''}: ${(e as Error).message.split('\n')[0]}`);
      }
    }
  }
  if (fileObj) {
    const known = new Set(table.map((o) => o.path));
    // Keys inside a map setting are data, not settings.
    const maps = table.filter((o) => o.kind === 'map').map((o) => o.path);
    const paths: string[] = [];
    collectPaths(fileObj, '', paths);
    for (const p of paths) {
      if (maps.some((m) => p.startsWith(`${m}.`))) continue;
      if (p && !known.has(p) && ![...known].some((k) => k.startsWith(`${p}.`)))
        problems.push(`${p} (file): unknown setting`);
    }
    for (const o of table) {
      const v = getPath(fileObj, o.path);
      if (v !== undefined && v !== null) {
        const c = coerce(o, v, 'file', problems);
        if (c !== undefined) setPath(out, o.path, c);
      }
    }
  }
  const env = input.env ?? {};
  for (const o of table) {
    for (const name of o.env ?? []) {
      const v = env[name];
      if (v === undefined || v === '') continue;
      const c = coerce(o, v, `env ${name}`, problems);
      if (c !== undefined) setPath(out, o.path, c);
      break; // first env name present wins
    }
  }
  const byFlag = new Map(table.map((o) => [flagName(o), o]));
  for (const [name, v] of Object.entries(input.flags ?? {})) {
    const o = byFlag.get(name);
    if (!o) {
      problems.push(`--${name}: unknown flag`);
      continue;
    }
    const c = coerce(o, v, `flag --${name}`, problems);
    if (c !== undefined) setPath(out, o.path, c);
  }
  return out;
}

/**
 * resolveOptions, typed as the config its table defines (OPTIONS → DaemonConfig, EASTWEST_OPTIONS →
 * EastwestConfig). Sound because the table is that type's definition: every path in it is set (its default
 * first), each value coerced to its option's kind, and a setting outside the table is a problem, not a field.
 */
// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- a typed cast, see above
export function resolveConfig<T extends object>(table: readonly OptionSpec[], input: LoadInput, problems: string[]): T {
  return resolveOptions(table, input, problems) as T;
}

/**
 * defaults < file < env < flags; every problem collected (one line each),
 * then a single ConfigError; the result is deep-frozen.
 */
export function loadConfig(input: LoadInput = {}): DaemonConfig {
  const problems: string[] = [];
  const cfg = resolveConfig<DaemonConfig>(OPTIONS, input, problems);
  // Cross-field rules.
  for (const p of ['xds.listen', 'admin.metricsListen', 'admin.debugListen']) {
    const v = getPath(cfg, p) as string;
    if (!validListen(v)) problems.push(`${p}: "${v}" is not host:port`);
  }
  if (cfg.xds.insecure && !isLoopbackListen(cfg.xds.listen)) {
    problems.push(`xds.insecure: refused because xds.listen (${cfg.xds.listen}) is not a loopback address`);
  }
  if (!isLoopbackListen(cfg.admin.debugListen) && !cfg.admin.debugToken) {
    problems.push(`admin.debugListen: binding ${cfg.admin.debugListen} (not loopback) requires admin.debugToken`);
  }
  if (cfg.xds.receiveBudgetBytes < cfg.xds.maxReceiveBytes) {
    problems.push('xds.receiveBudgetBytes: must be at least xds.maxReceiveBytes (one largest message must fit)');
  }
  if (cfg.xds.debounceMax < cfg.xds.debounceAfter)
    problems.push('xds.debounceMax: must not be shorter than xds.debounceAfter');
  if (cfg.ca.maxTtl < cfg.ca.defaultTtl) problems.push('ca.maxTtl: must not be shorter than ca.defaultTtl');
  if (!/^[A-Za-z0-9.-]+$/.test(cfg.trustDomain))
    problems.push(`trustDomain: "${cfg.trustDomain}" is not a valid trust domain`);
  for (const a of cfg.ca.trustedNodeAccounts)
    if (!/^[^/]+\/[^/]+$/.test(a)) problems.push(`ca.trustedNodeAccounts: "${a}" is not ns/sa`);
  for (const p of ['ca.identity', 'peering.peerIdentity']) {
    const v = getPath(cfg, p) as string;
    if (!/^[^/]+\/[^/]+$/.test(v)) problems.push(`${p}: "${v}" is not ns/sa`);
  }
  if (cfg.registry.type === 'file' && !cfg.registry.dir) problems.push('registry.dir: required for registry.type file');
  checkTrustBundles(cfg, problems);
  if (problems.length) throw new ConfigError(problems);
  return deepFreeze(cfg);
}

/**
 * peering.trustBundles: each key a trust domain other than ours, each value a
 * readable PEM file holding at least one CA certificate. Read here once so a
 * bad file stops start-up with every problem listed.
 */
function checkTrustBundles(cfg: DaemonConfig, problems: string[]): void {
  checkTrustBundleFiles('peering.trustBundles', cfg.peering.trustBundles, cfg.trustDomain, problems);
}

/** One trust-bundle map (trust domain → PEM file): each file readable and holding CA certificates only. */
export function checkTrustBundleFiles(
  path: string,
  bundles: Readonly<Record<string, string>>,
  localTd: string,
  problems: string[],
): void {
  for (const [td, file] of Object.entries(bundles)) {
    const where = `${path}[${JSON.stringify(td)}]`;
    if (!/^[A-Za-z0-9.-]+$/.test(td)) problems.push(`${where}: "${td}" is not a valid trust domain`);
    else if (td === localTd)
      problems.push(`${where}: the local trust domain always uses the mesh trust bundle; remove this entry`);
    if (!file) {
      problems.push(`${where}: a PEM file path is required`);
      continue;
    }
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (e) {
      problems.push(`${where}: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      continue;
    }
    const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    if (blocks.length === 0) problems.push(`${where}: ${file} holds no PEM certificate`);
    for (const [i, b] of blocks.entries()) {
      try {
        if (!new X509Certificate(b).ca) problems.push(`${where}: ${file} certificate ${i + 1} is not a CA certificate`);
      } catch (e) {
        problems.push(`${where}: ${file} certificate ${i + 1}: ${(e as Error).message}`);
      }
    }
  }
}

/** The effective config with secrets replaced, for logs and /debug/configz. */
export function redactConfig(cfg: DaemonConfig): Record<string, unknown> {
  const copy: Record<string, unknown> = Object.fromEntries(Object.entries(structuredClone(cfg)));
  for (const o of OPTIONS) {
    if (o.secret && getPath(copy, o.path)) setPath(copy, o.path, '[redacted]');
  }
  return copy;
}

export function isLoopback(listen: string): boolean {
  return isLoopbackListen(listen);
}
