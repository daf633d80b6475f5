import * as fs from 'node:fs';
import * as net from 'node:net';
import type { DaemonConfig } from '../config';
import type { RegistrySnapshot } from '../registry';
import type { MeshContext } from '../translate';
import { StartupError } from './errors';

/** Small pure helpers of the composition root (config diffing, serving names, the state dir check). */
export function diffPaths(a: unknown, b: unknown, prefix = ''): string[] {
  if (JSON.stringify(a) === JSON.stringify(b)) return [];
  if (a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    const at = (o: object, k: string): unknown => (o as Record<string, unknown>)[k];
    return [...keys].flatMap((k) => diffPaths(at(a, k), at(b, k), prefix ? `${prefix}.${k}` : k));
  }
  return [prefix];
}

export function ensureWritableDir(dir: string): void {
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    fs.accessSync(dir, fs.constants.W_OK);
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw new StartupError(`state directory ${dir} is not writable: ${why}`);
  }
}

/** istiod's serving names (pilot/pkg/bootstrap/server.go getDNSNames) plus local names for VMs/dev. */
export function servingDnsNames(cfg: DaemonConfig): string[] {
  const ns = cfg.systemNamespace;
  const istiod = [`istiod.${ns}.svc`, `istiod-remote.${ns}.svc`, `istio-pilot.${ns}.svc`];
  return [...new Set([...istiod, 'localhost', ...cfg.ca.servingDnsNames])];
}

export function servingIps(listen: string): string[] {
  const host = listen.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  const ips = new Set<string>(['127.0.0.1']);
  if (net.isIP(host) && host !== '0.0.0.0' && host !== '::') ips.add(host);
  return [...ips];
}

/** The mesh context; the network comes from config or the system namespace's topology label. */
export function meshContext(cfg: DaemonConfig, snapshot: RegistrySnapshot): MeshContext {
  const labels = snapshot.namespaces.get(cfg.systemNamespace)?.labels;
  const network = cfg.network || (labels?.['topology.istio.io/network'] ?? '');
  return {
    clusterId: cfg.clusterId,
    network,
    trustDomain: cfg.trustDomain,
    domainSuffix: cfg.domainSuffix,
    rootNamespace: cfg.systemNamespace,
  };
}
