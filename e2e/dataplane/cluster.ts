import * as fs from 'node:fs';
import * as path from 'node:path';
import { BootstrapIssuer } from '../../pkg/auth';
import { shebangNodeFlags } from '../../cmd/ambientd/node-flags';
import { waitFor } from '../../pkg/lifecycle';
import { Agent, openAppConn, type AppConn } from './agent-client';
import * as y from './mesh-yaml';
import { spawnInNetns, type NetnsProc } from './netns-proc';
import type { Topology } from './netns';
import { REPO_ROOT, Ztunnel, type ControlPlaneRef } from './ztunnel';
import type { LooseJson } from '../harness/loose-json';

const MAIN_JS = path.join(REPO_ROOT, 'dist', 'cmd', 'ambientd', 'main.js');

/** What a cluster needs from the rig that owns it. */
export interface RigEnv {
  topology: Topology;
  workDir: string;
  logDir: string;
  ztunnelBin: string;
  /** Shared-root PKI dir (certs/Makefile layout: <dir>/<cluster>/{ca-cert,ca-key,root-cert,cert-chain}.pem). */
  caDir(cluster: string): string;
}

export interface PodSpec {
  name: string;
  namespace: string;
  /** Service account; default the pod's app label, else its name. */
  sa?: string;
  labels?: Record<string, string>;
  containerPorts?: { name?: string; containerPort: number }[];
  /** App servers started in the pod's namespace (TCP ports). */
  serve?: number[];
  /** Run a ztunnel for the pod (default true); false = a plain client outside the mesh. */
  ztunnel?: boolean;
  /** Write the Pod into the registry (default: when it has a ztunnel). */
  register?: boolean;
  /** Inbound ports redirected to ztunnel's plaintext inbound listener 15006 (iptables), as istio-cni does. */
  captureInbound?: number[];
  node?: string;
}

/** One pod: a namespace on its cluster's network, an agent, app servers, and its own ztunnel. */
export class RigPod {
  constructor(
    readonly cluster: RigCluster,
    readonly spec: PodSpec,
    readonly ns: string,
    readonly ip: string,
    readonly agent: Agent,
    readonly ztunnel: Ztunnel | undefined,
  ) {}

  get name(): string {
    return this.spec.name;
  }

  get sa(): string {
    return podSa(this.spec);
  }

  get principal(): string {
    return `cluster.local/ns/${this.spec.namespace}/sa/${this.sa}`;
  }

  /** An app connection through this pod's ztunnel (SOCKS5), its banner read. */
  open(host: string, port: number, o: { timeoutMs?: number; plain?: boolean } = {}): Promise<AppConn> {
    return openAppConn(this.agent, host, port, o);
  }

  /** Which pod answers a new connection to host:port (the banner), or the refusal; `plain` bypasses ztunnel. */
  async reach(host: string, port: number, o: { plain?: boolean } = {}): Promise<{ banner?: string; error?: string }> {
    try {
      const c = await this.open(host, port, o);
      const echoed = await c.echo('ping');
      c.close();
      return echoed === 'ping' ? { banner: c.banner } : { error: `bad echo ${echoed}` };
    } catch (e) {
      return { error: (e as Error).message };
    }
  }

  /** Stops the pod's processes; `unregister` also removes it from the registry. */
  async stop(o: { unregister?: boolean } = {}): Promise<void> {
    if (o.unregister) this.cluster.remove(podFile(this.spec));
    await this.ztunnel?.stop();
    await this.agent.close();
  }
}

const podSa = (s: PodSpec): string => s.sa ?? s.labels?.app ?? s.name;
const podFile = (s: PodSpec): string => `pod-${s.namespace}-${s.name}.yaml`;

export interface ClusterOptions {
  name: string;
  network: string;
  /** The bridge its pods and daemon sit on (default: one per network, named after it). */
  bridge?: string;
  /** Extra daemon flags. */
  flags?: Record<string, string>;
}

/** One cluster: ambientd serve in its own control-plane namespace, a file registry, its pods. */
export class RigCluster {
  daemon!: NetnsProc;
  readonly pods = new Map<string, RigPod>();
  private vips = 0;

  private constructor(
    readonly env: RigEnv,
    readonly o: ClusterOptions,
    readonly index: number,
    readonly cpNs: string,
    readonly cpIp: string,
    readonly cpAgent: Agent,
    readonly dir: string,
  ) {}

  get name(): string {
    return this.o.name;
  }

  get network(): string {
    return this.o.network;
  }

  get bridge(): string {
    return this.o.bridge ?? this.o.network;
  }

  get registryDir(): string {
    return path.join(this.dir, 'registry');
  }

  get stateDir(): string {
    return path.join(this.dir, 'state');
  }

  get rootCertFile(): string {
    return path.join(this.env.caDir(this.name), 'root-cert.pem');
  }

  cpRef(): ControlPlaneRef {
    return { ip: this.cpIp, clusterId: this.name, rootCertFile: this.rootCertFile };
  }

  static async start(env: RigEnv, o: ClusterOptions, index: number): Promise<RigCluster> {
    const t = env.topology;
    const bridge = await t.bridge(o.bridge ?? o.network);
    const cpNs = await t.addNetns(t.nsName(`${o.name}-cp`));
    const cpIp = t.allocate(bridge);
    await t.attach(cpNs, bridge, 'eth0', [cpIp]);
    const dir = path.join(env.workDir, o.name);
    fs.mkdirSync(path.join(dir, 'registry'), { recursive: true });
    fs.mkdirSync(path.join(dir, 'tokens'), { recursive: true });
    const agent = await Agent.start({ ns: cpNs, name: `${o.name}-cp`, workDir: env.workDir, logDir: env.logDir });
    const c = new RigCluster(env, o, index, cpNs, cpIp, agent, dir);
    c.write(
      '00-system.yaml',
      y.join([y.namespace('istio-system', { 'topology.istio.io/network': o.network }), y.namespace('istio-gateways')]),
    );
    await c.startDaemon();
    return c;
  }

  /** Writes (or replaces) a registry file atomically: the file source never sees half a file. */
  write(file: string, yaml: string): void {
    const tmp = path.join(this.registryDir, `.${file}.tmp`);
    fs.writeFileSync(tmp, yaml);
    fs.renameSync(tmp, path.join(this.registryDir, file));
  }

  remove(file: string): void {
    fs.rmSync(path.join(this.registryDir, file), { force: true });
  }

  /** The next service VIP of this cluster (198.19.<cluster>.<n>: never on an interface, only in xDS). */
  nextVip(): string {
    return `198.19.${this.index}.${++this.vips}`;
  }

  /** Starts `ambientd serve` in the control-plane namespace and waits for its "serving" line. */
  async startDaemon(): Promise<void> {
    const flags: Record<string, string> = {
      'cluster-id': this.name,
      network: this.network,
      'xds-listen': '0.0.0.0:15012',
      'admin-metrics-listen': '127.0.0.1:15014',
      'admin-debug-listen': '127.0.0.1:8080',
      'registry-dir': this.registryDir,
      'state-dir': this.stateDir,
      'ca-dir': this.env.caDir(this.name),
      'log-level': 'info',
      ...this.o.flags,
    };
    // The node options the CLI ships with (its shebang): the daemon runs as a user's would.
    const args = [
      ...shebangNodeFlags(MAIN_JS),
      MAIN_JS,
      'serve',
      ...Object.entries(flags).map(([k, v]) => `--${k}=${v}`),
    ];
    const proc = spawnInNetns({
      ns: this.cpNs,
      name: `ambientd-${this.name}`,
      cmd: process.execPath,
      args,
      logDir: this.env.logDir,
    });
    this.daemon = proc;
    await new Promise<void>((resolve, reject) => {
      const fail = (): void => reject(new Error(`ambientd ${this.name} did not start:\n${proc.logTail()}`));
      const timer = setTimeout(fail, 60_000);
      proc.onLine((l) => {
        if (l.includes('"ambientd serving"')) {
          clearTimeout(timer);
          resolve();
        }
      });
      void proc.exited.then((c) => {
        clearTimeout(timer);
        reject(new Error(`ambientd ${this.name} exited (${c}):\n${proc.logTail()}`));
      });
    });
  }

  async stopDaemon(): Promise<void> {
    await this.daemon.stop(15_000);
  }

  /** A service-account token for a workload of this cluster, in a file without a trailing newline. */
  tokenFile(namespace: string, sa: string): string {
    const file = path.join(this.dir, 'tokens', `${namespace}.${sa}.jwt`);
    if (!fs.existsSync(file)) {
      const issuer = BootstrapIssuer.open({ stateDir: this.stateDir, trustDomain: 'cluster.local' });
      // ztunnel sends the file's bytes verbatim as the bearer token.
      const jwt = issuer.createBootstrapToken({ namespace, serviceAccount: sa, ttlSeconds: 24 * 3600 });
      fs.writeFileSync(file, jwt, { mode: 0o600 });
    }
    return file;
  }

  /** The Pod's registry entry (also used to put a stopped pod back). */
  registerPod(p: RigPod): void {
    const s = p.spec;
    this.write(
      podFile(s),
      y.pod({
        name: s.name,
        namespace: s.namespace,
        ip: p.ip,
        sa: podSa(s),
        labels: s.labels ?? { app: s.name },
        node: s.node,
        containerPorts: s.containerPorts,
      }),
    );
  }

  unregisterPod(p: RigPod): void {
    this.remove(podFile(p.spec));
  }

  /** A pod: namespace, address, agent, app servers, registry entry, token, ztunnel (ready). */
  async addPod(s: PodSpec): Promise<RigPod> {
    const t = this.env.topology;
    const label = `${this.name}-${s.name}`;
    const ns = await t.addNetns(t.nsName(label));
    const ip = t.allocate(this.bridge);
    await t.attach(ns, this.bridge, 'eth0', [ip]);
    for (const port of s.captureInbound ?? []) {
      await iptables(ns, [
        '-t',
        'nat',
        '-A',
        'PREROUTING',
        '-i',
        'eth0',
        '-p',
        'tcp',
        '--dport',
        String(port),
        '-j',
        'REDIRECT',
        '--to-ports',
        '15006',
      ]);
    }
    const agent = await Agent.start({ ns, name: label, workDir: this.env.workDir, logDir: this.env.logDir });
    for (const port of s.serve ?? []) await agent.serve(port, s.name);
    const withZtunnel = s.ztunnel !== false;
    let z: Ztunnel | undefined;
    const pod0 = new RigPod(this, s, ns, ip, agent, undefined);
    const register = s.register ?? withZtunnel;
    if (register) this.registerPod(pod0);
    if (withZtunnel) {
      z = await Ztunnel.start({
        bin: this.env.ztunnelBin,
        ns,
        label,
        agent,
        cp: this.cpRef(),
        namespace: s.namespace,
        podName: s.name,
        serviceAccount: podSa(s),
        network: this.network,
        tokenFile: this.tokenFile(s.namespace, podSa(s)),
        workDir: this.env.workDir,
        logDir: this.env.logDir,
      });
    }
    const pod = new RigPod(this, s, ns, ip, agent, z);
    this.pods.set(s.name, pod);
    // An unregistered pod (registered later, to time propagation) has a ready ztunnel without its own workload.
    if (z && register) {
      const own = (w: LooseJson): boolean => w.name === s.name && w.namespace === s.namespace;
      await z.until('its own workload', (d) => d.workloads.some(own));
    }
    return pod;
  }

  /** GET on the daemon's debug port (inside its namespace). */
  async debug(urlPath: string): Promise<LooseJson> {
    const r = await this.cpAgent.get('127.0.0.1', 8080, urlPath);
    if (r.status !== 200) throw new Error(`ambientd ${this.name} ${urlPath}: HTTP ${r.status} ${r.body.slice(0, 200)}`);
    return JSON.parse(r.body) as LooseJson;
  }

  /** Waits until the daemon's peering status for a peer cluster has a condition with status True. */
  async untilPeerCondition(peer: string, type: string, timeoutMs = 30_000): Promise<void> {
    await waitFor(
      async () => {
        const d = await this.debug('/debug/peers');
        const p = ((d.peers ?? []) as LooseJson[]).find((x) => x.cluster === peer);
        return p?.conditions?.[type]?.status === 'True';
      },
      { timeoutMs, intervalMs: 50, what: `${this.name}: peer ${peer} ${type}` },
    );
  }

  async close(): Promise<void> {
    for (const p of this.pods.values()) await p.stop();
    await this.daemon?.stop(5000);
    await this.cpAgent.close();
  }
}

async function iptables(ns: string, args: string[]): Promise<void> {
  const { execFile } = await import('node:child_process');
  await new Promise<void>((resolve, reject) =>
    execFile('ip', ['netns', 'exec', ns, 'iptables', ...args], (e, _o, err) =>
      e ? reject(new Error(`iptables ${args.join(' ')}: ${err}`)) : resolve(),
    ),
  );
}
