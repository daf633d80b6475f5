#!/usr/bin/env node
/**
 * The data-plane rig by hand (README "Cross-cluster in five minutes"); root, Linux, a ztunnel from
 * tools/ztunnel/ensure.sh.
 *   rig.js up [--mode gateway|flat]   two peered clusters with real ztunnels, on two networks joined by B's
 *                                      east-west gateway (default) or on one flat network; stays in the
 *                                      foreground and tears everything down on Ctrl-C
 *   rig.js call <cluster>/<pod> <host> <port>   one connection from that pod through its ztunnel (host: a VIP
 *                                      or a service hostname the pod's ztunnel knows); prints who answered
 *   rig.js down                        stops a running rig and removes what a crashed one left behind
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { waitFor } from '../../pkg/lifecycle';
import { Agent, openAppConn } from './agent-client';
import { Rig } from './harness';
import { removeStaleRigs } from './netns';
import { flatPair, untilEndpoints, WEB_GLOBAL_HOST, type Pair } from './topologies';
import { gatewayPair } from './gateway-topology';
import { serviceByHost, vipOf, type ConfigDump } from './ztunnel';

interface RigState {
  pid: number;
  workDir: string;
  pods: Record<string, { ns: string; sock: string; network: string }>;
}

const STATE_DIR = os.tmpdir();
const stateFile = (pid: number): string => path.join(STATE_DIR, `ambrig-${pid}.json`);

function liveStates(): RigState[] {
  const out: RigState[] = [];
  for (const f of fs.readdirSync(STATE_DIR).filter((x) => /^ambrig-\d+\.json$/.test(x))) {
    try {
      const s = JSON.parse(fs.readFileSync(path.join(STATE_DIR, f), 'utf8')) as RigState;
      process.kill(s.pid, 0);
      out.push(s);
    } catch {
      fs.rmSync(path.join(STATE_DIR, f), { force: true });
    }
  }
  return out;
}

async function up(mode: string): Promise<number> {
  const why = Rig.unavailable();
  if (why) {
    process.stderr.write(`rig: ${why}\n`);
    return 1;
  }
  process.stdout.write(`rig: starting two clusters (${mode}) …\n`);
  const rig = await Rig.create({ tag: 'cli', signals: false });
  let pair: Pair;
  let vip: string;
  try {
    if (mode !== 'flat' && mode !== 'gateway') throw new Error(`unknown --mode ${mode} (flat or gateway)`);
    pair = mode === 'gateway' ? await gatewayPair(rig) : await flatPair(rig);
    // Flat: B's two pods themselves; gateway: one split-horizon endpoint standing for them.
    vip = await untilEndpoints(pair.client, WEB_GLOBAL_HOST, mode === 'flat' ? 2 : 1);
  } catch (e) {
    process.stderr.write(`rig: ${(e as Error).message}\nlogs kept in ${rig.logDir}\n`);
    await rig.close({ keep: true });
    return 1;
  }
  const pods: RigState['pods'] = {};
  for (const c of rig.clusters.values()) {
    for (const p of c.pods.values()) pods[`${c.name}/${p.name}`] = { ns: p.ns, sock: p.agent.sock, network: c.network };
  }
  fs.writeFileSync(stateFile(process.pid), JSON.stringify({ pid: process.pid, workDir: rig.workDir, pods }));
  const me = path.relative(process.cwd(), __filename);
  process.stdout.write(`
rig: up. cluster-a (${pair.a.network}) runs pod "client"; cluster-b (${pair.b.network}) exports ${WEB_GLOBAL_HOST}
     (pods ${pair.web.map((w) => w.name).join(', ')})${mode === 'gateway' ? ' behind its east-west gateway' : ''}.
     Every process is real: ambientd per cluster, one unmodified ztunnel per pod. Logs: ${rig.logDir}

  node ${me} call cluster-a/client ${WEB_GLOBAL_HOST} 80
  ip netns exec ${pair.client.ns} curl -s --socks5 127.0.0.1:15080 http://${vip}:8081/
  ip netns exec ${pair.client.ns} curl -s localhost:15000/config_dump | less

Ctrl-C (or \`node ${me} down\`) tears it all down.
`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  process.stdout.write('rig: tearing down …\n');
  await rig.close();
  // Last: `rig.js down` waits for this file to disappear.
  fs.rmSync(stateFile(process.pid), { force: true });
  return 0;
}

async function call(target: string, host: string, port: number): Promise<number> {
  const st = liveStates().pop();
  const pod = st?.pods[target];
  if (!st || !pod) {
    process.stderr.write(`rig: no running rig with pod ${target} (start one with \`rig.js up\`)\n`);
    return 1;
  }
  const agent = new Agent(target, pod.sock);
  let ip = host;
  if (!/^\d+\.\d+\.\d+\.\d+$/.test(host)) {
    const d = JSON.parse((await agent.get('127.0.0.1', 15000, '/config_dump')).body) as ConfigDump;
    ip = vipOf(serviceByHost(d, host), pod.network) ?? '';
    if (!ip) {
      process.stderr.write(`rig: ${target}'s ztunnel knows no service ${host}\n`);
      return 1;
    }
  }
  try {
    const c = await openAppConn(agent, ip, port);
    process.stdout.write(`${target} → ${host}:${port} (${ip}): answered by ${c.banner}\n`);
    await c.finish();
    return 0;
  } catch (e) {
    process.stdout.write(`${target} → ${host}:${port} (${ip}): refused (${(e as Error).message})\n`);
    return 1;
  }
}

async function down(): Promise<number> {
  for (const s of liveStates()) {
    process.kill(s.pid, 'SIGTERM');
    // The owner tears its rig down on SIGTERM; its state file disappears when it is done. An owner that does not
    // finish in time is left to removeStaleRigs below.
    await waitFor(() => !fs.existsSync(stateFile(s.pid)), {
      timeoutMs: 20_000,
      intervalMs: 100,
      what: 'rig owner exit',
    }).catch(() => undefined);
  }
  const removed = await removeStaleRigs();
  process.stdout.write(`rig: down${removed.length ? ` (removed ${removed.length} leftover namespaces)` : ''}\n`);
  return 0;
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === 'up') {
    const i = rest.indexOf('--mode');
    return up(i >= 0 ? (rest[i + 1] ?? '') : 'gateway');
  }
  if (cmd === 'call' && rest.length === 3) return call(rest[0]!, rest[1]!, Number(rest[2]));
  if (cmd === 'down') return down();
  process.stderr.write('usage: rig.js up [--mode gateway|flat] | call <cluster>/<pod> <host> <port> | down\n');
  return 2;
}

main(process.argv.slice(2)).then(
  (c) => process.exit(c),
  (e: unknown) => {
    process.stderr.write(`rig: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);
