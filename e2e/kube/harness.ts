import { spawn, spawnSync, execFileSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { waitFor } from '../../pkg/lifecycle';
import { KubeClient, type KubeClientConfig } from '../../pkg/kube';

/** dist/e2e/kube → repo root. */
export const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');

export interface KubeBinaries {
  dir: string;
  apiserver: string;
  etcd: string;
}

/**
 * The cached binaries, or a reason why the real-apiserver tests must skip.
 * Never builds: `make test` runs tools/kube/ensure.sh first (tools/ensure-test-tools.sh).
 */
export function findBinaries(): KubeBinaries | string {
  const r = spawnSync('bash', [path.join(REPO_ROOT, 'tools/kube/ensure.sh'), '--print'], { encoding: 'utf8' });
  const dir = r.stdout.trim().split('\n').pop() ?? '';
  if (r.status !== 0 || !dir) {
    return (
      'kube-apiserver/etcd not built: `make test` builds them with tools/kube/ensure.sh ' + '(needs Go; 10-20 min cold)'
    );
  }
  return { dir, apiserver: path.join(dir, 'kube-apiserver'), etcd: path.join(dir, 'etcd') };
}

export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Per-run PKI with openssl: one CA, the serving cert, an admin (system:masters) client cert, the SA signing key. */
function makePki(dir: string): void {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(
    ['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=ambientd-e2e-ca'],
    dir,
  );
  const leaf = (name: string, subj: string, ext: string) => {
    fs.writeFileSync(path.join(dir, `${name}.ext`), ext);
    openssl(['req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subj], dir);
    openssl(
      [
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        'ca.crt',
        '-CAkey',
        'ca.key',
        '-CAcreateserial',
        '-days',
        '2',
        '-out',
        `${name}.crt`,
        '-extfile',
        `${name}.ext`,
      ],
      dir,
    );
  };
  leaf(
    'apiserver',
    '/CN=kube-apiserver',
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature\n',
  );
  leaf('admin', '/O=system:masters/CN=e2e-admin', 'extendedKeyUsage=clientAuth\nkeyUsage=digitalSignature\n');
  leaf('nobody', '/CN=e2e-nobody', 'extendedKeyUsage=clientAuth\nkeyUsage=digitalSignature\n');
  openssl(['genrsa', '-out', 'sa.key', '2048'], dir);
}

export interface ClusterOptions {
  /** Resources whose watch cache is disabled (watches go to etcd, so etcd compaction → 410). */
  noWatchCache?: string[];
  /** Passed to the process environment of nothing else: for log inspection on failure. */
  label?: string;
}

export const ISSUER = 'https://kubernetes.default.svc.cluster.local';

/**
 * etcd + kube-apiserver on 127.0.0.1 random ports, RBAC on, with a PKI made
 * for this run. No controller-manager: pods never get scheduled, service
 * accounts are not auto-created, and tests set status themselves.
 */
export class TestCluster {
  readonly dir: string;
  etcdPort = 0;
  apiPort = 0;
  private etcd?: ChildProcess;
  private api?: ChildProcess;
  private readonly clients: KubeClient[] = [];

  private constructor(
    private readonly bins: KubeBinaries,
    private readonly opts: ClusterOptions,
  ) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ambientd-kube-'));
  }

  static async start(bins: KubeBinaries, opts: ClusterOptions = {}): Promise<TestCluster> {
    const c = new TestCluster(bins, opts);
    try {
      makePki(c.dir);
      await c.startEtcd();
      c.apiPort = await freePort();
      await c.startApiserver();
    } catch (e) {
      await c.stop();
      throw e;
    }
    return c;
  }

  get url(): string {
    return `https://127.0.0.1:${this.apiPort}`;
  }

  get etcdUrl(): string {
    return `http://127.0.0.1:${this.etcdPort}`;
  }

  file(name: string): string {
    return path.join(this.dir, name);
  }

  private async startEtcd(): Promise<void> {
    this.etcdPort = await freePort();
    const peer = await freePort();
    const log = fs.openSync(this.file('etcd.log'), 'a');
    this.etcd = spawn(
      this.bins.etcd,
      [
        '--name=e2e',
        `--data-dir=${this.file('etcd-data')}`,
        `--listen-client-urls=${this.etcdUrl}`,
        `--advertise-client-urls=${this.etcdUrl}`,
        `--listen-peer-urls=http://127.0.0.1:${peer}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${peer}`,
        `--initial-cluster=e2e=http://127.0.0.1:${peer}`,
        '--log-level=warn',
        '--unsafe-no-fsync',
        '--listen-metrics-urls=',
      ],
      { stdio: ['ignore', log, log] },
    );
    fs.closeSync(log);
    await waitFor(async () => (await httpGet(`${this.etcdUrl}/health`)).includes('"health":"true"'), {
      timeoutMs: 30_000,
      intervalMs: 100,
      what: `etcd health (log ${this.file('etcd.log')})`,
    });
  }

  private async startApiserver(): Promise<void> {
    const log = fs.openSync(this.file('apiserver.log'), 'a');
    const args = [
      `--etcd-servers=${this.etcdUrl}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${this.apiPort}`,
      `--tls-cert-file=${this.file('apiserver.crt')}`,
      `--tls-private-key-file=${this.file('apiserver.key')}`,
      `--client-ca-file=${this.file('ca.crt')}`,
      `--service-account-issuer=${ISSUER}`,
      `--service-account-key-file=${this.file('sa.key')}`,
      `--service-account-signing-key-file=${this.file('sa.key')}`,
      '--authorization-mode=RBAC',
      '--service-cluster-ip-range=10.96.0.0/16',
      // No controller-manager creates "default" service accounts, so pods would be refused.
      '--disable-admission-plugins=ServiceAccount',
      '--enable-priority-and-fairness=false',
      '--profiling=false',
      '--endpoint-reconciler-type=none',
      // Close open watches on SIGTERM instead of waiting for them (a restart test would otherwise wait for the kill).
      '--shutdown-watch-termination-grace-period=1s',
      `--cert-dir=${this.file('certs')}`,
      '--v=0',
    ];
    if (this.opts.noWatchCache?.length)
      args.push(`--watch-cache-sizes=${this.opts.noWatchCache.map((r) => `${r}#0`).join(',')}`);
    this.api = spawn(this.bins.apiserver, args, { stdio: ['ignore', log, log] });
    fs.closeSync(log);
    const admin = this.adminClient();
    await waitFor(async () => (await admin.request('GET', '/readyz', { timeoutMs: 2000 })).status === 200, {
      timeoutMs: 120_000,
      intervalMs: 200,
      what: `kube-apiserver /readyz (log ${this.file('apiserver.log')})`,
    });
  }

  /** Client config for a cert pair made by makePki ('admin', 'nobody'). */
  certConfig(name: string): KubeClientConfig {
    return {
      server: this.url,
      ca: fs.readFileSync(this.file('ca.crt')),
      cert: fs.readFileSync(this.file(`${name}.crt`)),
      key: fs.readFileSync(this.file(`${name}.key`)),
      source: `e2e ${name}`,
    };
  }

  tokenConfig(token: string): KubeClientConfig {
    return { server: this.url, ca: fs.readFileSync(this.file('ca.crt')), token, source: 'e2e token' };
  }

  /** A client closed with the cluster. */
  client(cfg: KubeClientConfig): KubeClient {
    const c = new KubeClient(cfg);
    this.clients.push(c);
    return c;
  }

  adminClient(): KubeClient {
    return this.client(this.certConfig('admin'));
  }

  /** Stops kube-apiserver (SIGTERM, wait for exit) and starts it again on the same port. */
  async restartApiserver(): Promise<void> {
    await stopProcess(this.api);
    await this.startApiserver();
  }

  async stopApiserver(): Promise<void> {
    await stopProcess(this.api);
  }

  /** Compacts etcd at its current revision through the v3 JSON gateway; returns the revision. */
  async compactEtcd(): Promise<number> {
    const range = JSON.parse(
      await httpPost(`${this.etcdUrl}/v3/kv/range`, { key: Buffer.from('/').toString('base64') }),
    ) as { header: { revision: string } };
    const revision = Number(range.header.revision);
    await httpPost(`${this.etcdUrl}/v3/kv/compaction`, { revision: String(revision), physical: true });
    return revision;
  }

  async stop(): Promise<void> {
    for (const c of this.clients) c.close();
    await stopProcess(this.api);
    await stopProcess(this.etcd);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  tailLog(name: 'apiserver' | 'etcd', lines = 30): string {
    try {
      return fs
        .readFileSync(this.file(`${name}.log`), 'utf8')
        .split('\n')
        .slice(-lines)
        .join('\n');
    } catch {
      return '';
    }
  }
}

async function stopProcess(p?: ChildProcess): Promise<void> {
  if (!p || p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise<void>((r) => p.once('exit', () => r()));
  p.kill('SIGTERM');
  const t = setTimeout(() => p.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(t);
}

function httpGet(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        let b = '';
        res.on('data', (c: Buffer) => (b += c.toString()));
        res.on('end', () => resolve(b));
      })
      .on('error', reject);
  });
}

function httpPost(url: string, body: unknown): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
      let b = '';
      res.on('data', (c: Buffer) => (b += c.toString()));
      res.on('end', () => (res.statusCode === 200 ? resolve(b) : reject(new Error(`${url}: ${res.statusCode} ${b}`))));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

/**
 * A TCP proxy in front of the API server so a test can cut the daemon's
 * connections (and refuse new ones) while the admin keeps talking directly.
 */
export class CutProxy {
  private server?: net.Server;
  private readonly socks = new Set<net.Socket>();
  private blocked = false;
  port = 0;

  constructor(private readonly targetPort: () => number) {}

  async start(): Promise<void> {
    this.server = net.createServer((s) => {
      if (this.blocked) return s.destroy();
      const up = net.connect(this.targetPort(), '127.0.0.1');
      this.socks.add(s).add(up);
      const drop = () => {
        s.destroy();
        up.destroy();
        this.socks.delete(s);
        this.socks.delete(up);
      };
      s.on('error', drop).on('close', drop);
      up.on('error', drop).on('close', drop);
      s.pipe(up).pipe(s);
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  /** Cuts every open connection; while blocked, new ones are closed at once. */
  cut(block: boolean): void {
    this.blocked = block;
    for (const s of this.socks) s.destroy();
    this.socks.clear();
  }

  async close(): Promise<void> {
    this.cut(true);
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}
