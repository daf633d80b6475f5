import * as fs from 'node:fs';
import * as path from 'node:path';
import { stringify } from 'yaml';
import type { DaemonConfig } from '../../pkg/config';
import type { GatewayObj } from '../../pkg/model';
import { normalise, parseManifest } from '../../pkg/registry';
import {
  eastWestGateways,
  eastWestManifest,
  linkGateway,
  parseAddresses,
  peerInfoFromEastWest,
  DEFAULT_EAST_WEST_NAME,
  DEFAULT_GATEWAY_NAMESPACE,
  type Manifest,
} from '../../pkg/peering';

/**
 * `ambientd expose` and `ambientd link` (Solo's `istioctl multicluster
 * expose|link`, docs/design/peering-model.md): expose emits this cluster's
 * east-west Gateway, link emits the istio-remote Gateway that imports from a
 * peer. Both print kubectl-applicable YAML, or with --write put it into the
 * file registry directory. Deterministic output, so running either twice
 * changes nothing (the second --write reports "unchanged").
 */

/** Flags these commands own; the rest are daemon settings (loadConfig). */
export const EXPOSE_FLAGS = [
  'address',
  'namespace',
  'name',
  'xds-port',
  'hbone-port',
  'region',
  'zone',
  'write',
] as const;
export const LINK_FLAGS = ['from', 'token', 'address', 'write'] as const;

export interface CmdIo {
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
}

const port = (v: string | undefined, name: string, dflt: number): number | string => {
  if (v === undefined) return dflt;
  const n = Number(v);
  return Number.isInteger(n) && n > 0 && n < 65536 ? n : `--${name} must be a port (1-65535), got "${v}"`;
};

/** The xds.listen port: in file mode peers dial the daemon itself, so that is the xds-tls port to publish. */
function listenPort(listen: string): number | undefined {
  const m = /:(\d+)$/.exec(listen);
  return m && Number(m[1]) > 0 ? Number(m[1]) : undefined; // port 0 (ephemeral) says nothing
}

function emit(m: Manifest, cfg: DaemonConfig, write: boolean, io: CmdIo, what: string): number {
  const text = stringify(m, { lineWidth: 0 });
  if (!write) {
    io.out.write(text);
    return 0;
  }
  if (cfg.registry.type !== 'file') {
    io.err.write(
      `--write needs the file registry (registry.type is ${cfg.registry.type}); ` +
        'pipe the YAML to kubectl apply -f - instead\n',
    );
    return 2;
  }
  const file = path.join(cfg.registry.dir, `${m.metadata.name}.yaml`);
  let before: string | undefined;
  try {
    before = fs.readFileSync(file, 'utf8');
  } catch {
    before = undefined;
  }
  if (before === text) {
    io.out.write(`${what} ${m.metadata.namespace}/${m.metadata.name} unchanged (${file})\n`);
    return 0;
  }
  // Write-then-rename: the registry watcher never reads half a file.
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.tmp`);
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
  const done = before === undefined ? 'written' : 'updated';
  io.out.write(`${what} ${m.metadata.namespace}/${m.metadata.name} ${done} (${file})\n`);
  return 0;
}

export function exposeCommand(cfg: DaemonConfig, flags: Record<string, string>, io: CmdIo): number {
  if (!cfg.network) {
    io.err.write("expose: this cluster's network is unknown; set --network (or network: in the config file)\n");
    return 2;
  }
  const xdsPort = port(flags['xds-port'], 'xds-port', listenPort(cfg.xds.listen) ?? 15012);
  const hbonePort = port(flags['hbone-port'], 'hbone-port', 15008);
  for (const p of [xdsPort, hbonePort]) {
    if (typeof p === 'string') {
      io.err.write(`expose: ${p}\n`);
      return 2;
    }
  }
  const locality = flags.region || flags.zone ? { region: flags.region, zone: flags.zone } : undefined;
  const m = eastWestManifest({
    name: flags.name ?? DEFAULT_EAST_WEST_NAME,
    namespace: flags.namespace ?? DEFAULT_GATEWAY_NAMESPACE,
    cluster: cfg.clusterId,
    network: cfg.network,
    trustDomain: cfg.trustDomain,
    addresses: flags.address ? parseAddresses(flags.address) : undefined,
    xdsPort: xdsPort as number,
    hbonePort: hbonePort as number,
    locality,
  });
  return emit(m, cfg, flags.write === 'true', io, 'east-west Gateway');
}

type Obj = Record<string, unknown>;

async function fetchJson(base: string, p: string, token: string | undefined): Promise<Obj> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(`${base}${p}`, { headers, signal: AbortSignal.timeout(5000) });
  if (!res.ok) throw new Error(`${p}: HTTP ${res.status}${res.status === 401 ? ' (missing or wrong --token)' : ''}`);
  return (await res.json()) as Obj;
}

/** The peer's east-west Gateways and configured identity, from its debug endpoints or a file. */
interface PeerDocs {
  gateways: GatewayObj[];
  cluster?: string;
  network?: string;
  trustDomain?: string;
}

async function readPeer(from: string, token: string | undefined): Promise<PeerDocs> {
  if (/^https?:\/\//.test(from)) {
    const base = from.replace(/\/+$/, '');
    const [configz, registryz] = await Promise.all([
      fetchJson(base, '/debug/configz', token),
      fetchJson(base, '/debug/registryz', token),
    ]);
    const c = (configz.config ?? {}) as Obj;
    const str = (v: unknown): string | undefined => (typeof v === 'string' && v ? v : undefined);
    return {
      gateways: (Array.isArray(registryz.gateways) ? registryz.gateways : []) as GatewayObj[],
      cluster: str(c.clusterId),
      network: str(c.network),
      trustDomain: str(c.trustDomain),
    };
  }
  const parsed = parseManifest(fs.readFileSync(from, 'utf8'), from);
  const gateways: GatewayObj[] = [];
  const problems = [...parsed.errors.map((e) => `${e.origin}: ${e.reason}`)];
  for (const o of parsed.objects) {
    const r = normalise(o.obj);
    if (r.status === 'ok' && r.obj.kind === 'Gateway') gateways.push(r.obj);
    else if (r.status === 'invalid') problems.push(`${o.origin}: ${r.reason}`);
  }
  if (!gateways.length && problems.length) throw new Error(problems.join('; '));
  return { gateways };
}

export async function linkCommand(cfg: DaemonConfig, flags: Record<string, string>, io: CmdIo): Promise<number> {
  const from = flags.from;
  if (!from || from === 'true') {
    io.err.write('link: --from <peer debug URL | file with its east-west Gateway> is required\n');
    return 2;
  }
  let peer: PeerDocs;
  try {
    peer = await readPeer(from, flags.token);
  } catch (e) {
    const cause = (e as { cause?: { code?: string } }).cause?.code;
    io.err.write(`link: cannot read ${from}: ${cause ?? (e as Error).message}\n`);
    return 1;
  }
  const ew = eastWestGateways(peer.gateways)[0];
  if (!ew) {
    io.err.write(`link: refused: ${from} has no east-west Gateway; run \`ambientd expose\` in that cluster first\n`);
    return 1;
  }
  const info = peerInfoFromEastWest(ew, peer);
  if ('reason' in info) {
    io.err.write(`link: refused: ${info.reason}\n`);
    return 1;
  }
  if (flags.address) info.addresses = parseAddresses(flags.address);
  const r = linkGateway(info, {
    cluster: cfg.clusterId,
    trustDomain: cfg.trustDomain,
    peerIdentity: cfg.peering.peerIdentity,
    trustDomains: [cfg.trustDomain, ...Object.keys(cfg.peering.trustBundles ?? {})],
  });
  if ('reason' in r) {
    const why = r.status === 'Invalid' ? `the istio-remote Gateway for ${info.cluster} would be Invalid: ` : '';
    io.err.write(`link: refused: ${why}${r.reason}\n`);
    return 1;
  }
  const what = `istio-remote Gateway (imports ${info.cluster}, network ${info.network})`;
  return emit(r.manifest, cfg, flags.write === 'true', io, what);
}
