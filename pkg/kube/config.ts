import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { DaemonError, GrpcCode } from '../errors';

/**
 * Everything the client needs to reach one API server. Built from a kubeconfig
 * or from the in-cluster service account; the caller (cmd/ or pkg/config)
 * supplies paths and the KUBERNETES_SERVICE_* values, never this module.
 */
export interface KubeClientConfig {
  /** https://host:port (no trailing slash). */
  server: string;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  /** A static bearer token. */
  token?: string;
  /**
   * A bearer token file re-read when it changes: projected service-account
   * tokens are rotated by the kubelet (every ~48 min by default).
   */
  tokenFile?: string;
  /** Basic auth (kubeconfig username/password). */
  username?: string;
  password?: string;
  insecureSkipTlsVerify?: boolean;
  tlsServerName?: string;
  /** Informational: where this came from, for logs. */
  source: string;
}

export interface InClusterOptions {
  /** KUBERNETES_SERVICE_HOST */
  host: string;
  /** KUBERNETES_SERVICE_PORT */
  port: string | number;
  /** Default /var/run/secrets/kubernetes.io/serviceaccount */
  serviceAccountDir?: string;
}

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

function configError(message: string): DaemonError {
  return new DaemonError('kube.config_invalid', GrpcCode.FAILED_PRECONDITION, message);
}

/** In-cluster config: the pod's service-account token and CA (rest.InClusterConfig). */
export function inClusterConfig(opts: InClusterOptions): KubeClientConfig {
  if (!opts.host || !opts.port) {
    throw configError('in-cluster config needs KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT');
  }
  const dir = opts.serviceAccountDir ?? SERVICE_ACCOUNT_DIR;
  const host = opts.host.includes(':') && !opts.host.startsWith('[') ? `[${opts.host}]` : opts.host;
  const tokenFile = path.join(dir, 'token');
  let ca: Buffer;
  try {
    fs.accessSync(tokenFile, fs.constants.R_OK);
    ca = fs.readFileSync(path.join(dir, 'ca.crt'));
  } catch (e) {
    throw configError(`in-cluster service account not readable in ${dir}: ${(e as Error).message}`);
  }
  return { server: `https://${host}:${opts.port}`, ca, tokenFile, source: `in-cluster (${dir})` };
}

interface Named<T> {
  name: string;
  [k: string]: unknown;
  value?: T;
}

// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- the caller names the field's type
function pick<T>(list: unknown, name: string, field: string): T | undefined {
  if (!Array.isArray(list)) return undefined;
  const hit = (list as Named<T>[]).find((e) => e && e.name === name);
  return hit ? (hit[field] as T | undefined) : undefined;
}

function str(o: Record<string, unknown> | undefined, k: string): string | undefined {
  const v = o?.[k];
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}

/**
 * Loads a kubeconfig (YAML), selecting `context` or its current-context.
 * Supports CA data/file, client cert/key data/file, token, tokenFile,
 * username/password, insecure-skip-tls-verify and tls-server-name. Relative
 * file paths resolve against the kubeconfig's folder, as kubectl does.
 * Exec/auth-provider plugins are rejected with a clear error.
 */
export function loadKubeconfig(file: string, context?: string): KubeClientConfig {
  let doc: Record<string, unknown>;
  try {
    doc = parseYaml(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw configError(`kubeconfig ${file}: ${(e as Error).message}`);
  }
  return kubeconfigFromObject(doc, path.dirname(path.resolve(file)), context, file);
}

export function kubeconfigFromObject(
  doc: Record<string, unknown>,
  baseDir: string,
  context?: string,
  label = 'kubeconfig',
): KubeClientConfig {
  const ctxName = context ?? str(doc, 'current-context');
  if (!ctxName) throw configError(`${label}: no context given and no current-context`);
  const ctx = pick<Record<string, unknown>>(doc.contexts, ctxName, 'context');
  if (!ctx) throw configError(`${label}: context "${ctxName}" not found`);
  const clusterName = str(ctx, 'cluster');
  const userName = str(ctx, 'user');
  const cluster = clusterName ? pick<Record<string, unknown>>(doc.clusters, clusterName, 'cluster') : undefined;
  if (!cluster) throw configError(`${label}: cluster "${clusterName}" of context "${ctxName}" not found`);
  const user = (userName ? pick<Record<string, unknown>>(doc.users, userName, 'user') : undefined) ?? {};
  const server = str(cluster, 'server');
  if (!server) throw configError(`${label}: cluster "${clusterName}" has no server`);
  if (!server.startsWith('https://') && !server.startsWith('http://')) {
    throw configError(`${label}: server "${server}" must be an http(s) URL`);
  }
  if (user.exec || user['auth-provider']) {
    throw configError(`${label}: user "${userName}" uses an exec/auth-provider plugin, which ambientd does not run`);
  }
  const resolve = (p: string) => (path.isAbsolute(p) ? p : path.join(baseDir, p));
  const dataOrFile = (o: Record<string, unknown>, dataKey: string, fileKey: string): Buffer | undefined => {
    const d = str(o, dataKey);
    if (d) return Buffer.from(d, 'base64');
    const f = str(o, fileKey);
    if (!f) return undefined;
    try {
      return fs.readFileSync(resolve(f));
    } catch (e) {
      throw configError(`${label}: ${fileKey} ${f}: ${(e as Error).message}`);
    }
  };
  const cfg: KubeClientConfig = { server: server.replace(/\/+$/, ''), source: `${label} context ${ctxName}` };
  const ca = dataOrFile(cluster, 'certificate-authority-data', 'certificate-authority');
  if (ca) cfg.ca = ca;
  if (cluster['insecure-skip-tls-verify'] === true) cfg.insecureSkipTlsVerify = true;
  const sni = str(cluster, 'tls-server-name');
  if (sni) cfg.tlsServerName = sni;
  const cert = dataOrFile(user, 'client-certificate-data', 'client-certificate');
  const key = dataOrFile(user, 'client-key-data', 'client-key');
  if (cert) cfg.cert = cert;
  if (key) cfg.key = key;
  const token = str(user, 'token');
  if (token) cfg.token = token;
  const tokenFile = str(user, 'tokenFile');
  if (tokenFile) cfg.tokenFile = resolve(tokenFile);
  const username = str(user, 'username');
  const password = str(user, 'password');
  if (username && password) {
    cfg.username = username;
    cfg.password = password;
  }
  return cfg;
}

export interface ClientConfigOptions {
  /** registry.kubeconfig; empty = in-cluster. */
  kubeconfig?: string;
  /** registry.context; empty = current-context. */
  context?: string;
  /** KUBERNETES_SERVICE_HOST/PORT as read by cmd/ (undefined when not in a pod). */
  inCluster?: InClusterOptions;
}

/** The daemon's choice, as kubectl/client-go make it: an explicit kubeconfig wins, else in-cluster. */
export function resolveClientConfig(o: ClientConfigOptions): KubeClientConfig {
  if (o.kubeconfig) return loadKubeconfig(o.kubeconfig, o.context || undefined);
  if (o.inCluster?.host) return inClusterConfig(o.inCluster);
  throw configError('registry: kubernetes needs registry.kubeconfig or the in-cluster KUBERNETES_SERVICE_HOST/PORT');
}
