import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';

/**
 * Network namespaces for the data-plane rig (docs/design/hbone.md, Test rig): every
 * namespace and bridge lives inside namespaces this module creates, with
 * addresses in 198.18.0.0/15 (RFC 2544, reserved for benchmarking), no default
 * route and no address in the root namespace. IP forwarding stays at the
 * kernel's default for a new namespace (0), so nothing is ever routed between
 * bridges: cross-network traffic can only pass through a process (the
 * east-west gateway) that has a leg on both.
 *
 * Names are `ambrig-<pid>-<label>`, so a rig whose owner died can be found and
 * removed by the next run (removeStaleRigs).
 */
const run = promisify(execFile);
export const RIG_PREFIX = 'ambrig-';

export async function ip(args: string[]): Promise<string> {
  try {
    const { stdout } = await run('ip', args, { maxBuffer: 4 << 20 });
    return stdout;
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`ip ${args.join(' ')}: ${(err.stderr ?? err.message).trim()}`);
  }
}

/** Why the rig cannot run here, or undefined when it can (root, iproute2, netns support). */
export function rigUnavailable(): string | undefined {
  if (process.platform !== 'linux') return 'the data-plane rig needs Linux network namespaces';
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    return 'the data-plane rig needs root (network namespaces)';
  }
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' });
  } catch {
    return 'the data-plane rig needs iproute2 (`ip`): run tools/sysdeps.sh';
  }
  try {
    execFileSync('setpriv', ['--version'], { stdio: 'ignore' });
  } catch {
    return 'the data-plane rig needs setpriv (util-linux)';
  }
  return undefined;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function listNetns(): Promise<string[]> {
  const out = await ip(['netns', 'list']);
  return out
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter((n) => n.length > 0);
}

/** Processes inside a namespace (by `ip netns pids`). */
export async function netnsPids(name: string): Promise<number[]> {
  try {
    return (await ip(['netns', 'pids', name]))
      .split('\n')
      .map(Number)
      .filter((n) => n > 0);
  } catch {
    return [];
  }
}

/**
 * Deletes rig namespaces whose owning process is gone (a crashed or killed run), after killing the processes a
 * dead run left inside them (its daemons, ztunnels and agents: they were spawned into those namespaces only).
 * `owner` also removes a live owner's namespaces (`rig down` after the owner was told to stop).
 */
export async function removeStaleRigs(o: { owner?: number } = {}): Promise<string[]> {
  const removed: string[] = [];
  for (const name of await listNetns()) {
    const m = new RegExp(`^${RIG_PREFIX}(\\d+)-`).exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid !== o.owner && pidAlive(pid)) continue;
    for (const p of await netnsPids(name)) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    await ip(['netns', 'del', name]).catch(() => undefined);
    removed.push(name);
  }
  return removed;
}

/** One rig's namespaces: a switch namespace holding the bridges, and the namespaces attached to them. */
export class Topology {
  readonly prefix: string;
  readonly switchNs: string;
  private readonly bridges = new Map<string, { index: number; nextHost: number }>();
  private readonly namespaces: string[] = [];
  private veths = 0;
  private closed = false;

  private constructor(prefix: string) {
    this.prefix = prefix;
    this.switchNs = `${prefix}sw`;
  }

  /** `signals: false` leaves SIGINT/SIGTERM to the caller (which must then close() the topology itself). */
  static async create(o: { owner?: number; signals?: boolean } = {}): Promise<Topology> {
    await removeStaleRigs();
    const t = new Topology(`${RIG_PREFIX}${o.owner ?? process.pid}-`);
    // A test killed on timeout (SIGTERM) or exiting without close() still removes its namespaces; the
    // processes inside die with it (PR_SET_PDEATHSIG, netns-proc.ts).
    process.once('exit', t.onExit);
    if (o.signals !== false) {
      process.once('SIGTERM', t.onSignal);
      process.once('SIGINT', t.onSignal);
    }
    await t.addNetns(t.switchNs);
    return t;
  }

  private readonly onExit = (): void => {
    if (this.closed) return;
    for (const ns of this.namespaces) {
      try {
        execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
      } catch {
        /* already gone */
      }
    }
  };

  private readonly onSignal = (sig: NodeJS.Signals): void => {
    this.onExit();
    process.exit(sig === 'SIGINT' ? 130 : 143);
  };

  /** A bridge (one L2 network, subnet 198.18.<index>.0/24); idempotent. */
  async bridge(name: string): Promise<string> {
    if (this.bridges.has(name)) return name;
    const index = this.bridges.size + 1;
    if (index > 250) throw new Error('too many rig bridges');
    this.bridges.set(name, { index, nextHost: 1 });
    await ip(['-n', this.switchNs, 'link', 'add', `br-${index}`, 'type', 'bridge']);
    await ip(['-n', this.switchNs, 'link', 'set', `br-${index}`, 'up']);
    return name;
  }

  /** The next free address on a bridge's subnet. */
  allocate(bridge: string): string {
    const b = this.bridges.get(bridge);
    if (!b) throw new Error(`no bridge ${bridge}`);
    if (b.nextHost > 254) throw new Error(`bridge ${bridge} is full`);
    return `198.18.${b.index}.${b.nextHost++}`;
  }

  /** Full namespace name for a label (`ambrig-<pid>-<label>`). */
  nsName(label: string): string {
    return `${this.prefix}${label}`;
  }

  /** A namespace with loopback up and nothing else. */
  async addNetns(name: string): Promise<string> {
    await ip(['netns', 'add', name]);
    this.namespaces.push(name);
    await ip(['-n', name, 'link', 'set', 'lo', 'up']);
    return name;
  }

  /**
   * A leg: a veth pair with `ifname` inside `ns` and the other end enslaved to the bridge in the switch
   * namespace, with the given addresses (/24, on-link route only; no default route).
   */
  async attach(ns: string, bridge: string, ifname: string, addresses: string[]): Promise<void> {
    const b = this.bridges.get(bridge);
    if (!b) throw new Error(`no bridge ${bridge}`);
    const port = `v${++this.veths}`;
    await ip(['-n', this.switchNs, 'link', 'add', port, 'type', 'veth', 'peer', 'name', ifname, 'netns', ns]);
    await ip(['-n', this.switchNs, 'link', 'set', port, 'master', `br-${b.index}`]);
    await ip(['-n', this.switchNs, 'link', 'set', port, 'up']);
    for (const a of addresses) await ip(['-n', ns, 'addr', 'add', `${a}/24`, 'dev', ifname]);
    await ip(['-n', ns, 'link', 'set', ifname, 'up']);
  }

  /** Another address on an existing leg (a second "node" address, say). */
  async addAddress(ns: string, ifname: string, address: string): Promise<void> {
    await ip(['-n', ns, 'addr', 'add', `${address}/24`, 'dev', ifname]);
  }

  /** Removes every namespace of this rig (the processes inside must have been stopped first). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    process.removeListener('exit', this.onExit);
    process.removeListener('SIGTERM', this.onSignal);
    process.removeListener('SIGINT', this.onSignal);
    for (const ns of this.namespaces.reverse()) {
      for (const p of await netnsPids(ns)) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
      await ip(['netns', 'del', ns]).catch(() => undefined);
    }
  }
}
