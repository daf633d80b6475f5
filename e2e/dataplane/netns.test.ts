import { execFileSync, spawnSync } from 'node:child_process';
import t from 'tap';
import { listNetns, removeStaleRigs, rigUnavailable, Topology } from './netns';

// The rig's isolation promises (netns.ts): nothing in the root namespace, no default route, no forwarding,
// every namespace gone after close(), and a dead run's namespaces removed by the next one.
const skip = rigUnavailable();
t.setTimeout(60_000);

const rootAddrs = (): string => execFileSync('ip', ['-o', 'addr', 'show'], { encoding: 'utf8' });
const inNs = (ns: string, cmd: string[]): string =>
  execFileSync('ip', ['netns', 'exec', ns, ...cmd], { encoding: 'utf8' });

t.test('namespaces on two bridges: isolated from the host and from each other', { skip }, async (t) => {
  const topo = await Topology.create();
  t.teardown(() => topo.close());
  await topo.bridge('n1');
  await topo.bridge('n2');
  const names = ['x', 'y', 'z'].map((l) => topo.nsName(l));
  for (const n of names) await topo.addNetns(n);
  const [x, y, z] = names as [string, string, string];
  const ipX = topo.allocate('n1');
  const ipY = topo.allocate('n1');
  const ipZ = topo.allocate('n2');
  await topo.attach(x, 'n1', 'eth0', [ipX]);
  await topo.attach(y, 'n1', 'eth0', [ipY]);
  await topo.attach(z, 'n2', 'eth0', [ipZ]);
  for (const a of [ipX, ipY, ipZ]) t.match(a, /^198\.1[89]\./, `${a} is in 198.18.0.0/15`);
  // Other tests may run beside this one, so the check is for the rig's own range, not an unchanged host.
  t.notMatch(rootAddrs(), /198\.1[89]\./, 'no rig address in the root namespace');
  for (const n of names) {
    t.notMatch(inNs(n, ['ip', 'route', 'show']), /default/, `${n}: no default route`);
    t.equal(inNs(n, ['cat', '/proc/sys/net/ipv4/ip_forward']).trim(), '0', `${n}: forwarding off`);
  }
  // A TCP connect to a closed port: "refused" proves the peer answered, "unreachable" that no route exists.
  const probe = (from: string, to: string): string =>
    spawnSync('ip', ['netns', 'exec', from, 'timeout', '5', 'bash', '-c', `exec 3<>/dev/tcp/${to}/9`], {
      encoding: 'utf8',
    }).stderr;
  t.match(probe(x, ipY), /refused/i, 'same bridge: the peer answers');
  t.match(probe(x, ipZ), /unreachable/i, 'other bridge: no route (nothing forwards between bridges)');
  await topo.close();
  const left = (await listNetns()).filter((n) => n.startsWith(topo.prefix));
  t.same(left, [], 'close() removed every namespace');
});

t.test("a dead run's namespaces are removed by the next run", { skip }, async (t) => {
  // A pid that is certainly gone: a child that has exited and been reaped.
  const dead = spawnSync('true').pid;
  const stale = await Topology.create({ owner: dead, signals: false });
  await stale.addNetns(stale.nsName('leftover'));
  // Forget it without close(), as a crashed run would; the next Topology.create sweeps it.
  const fresh = await Topology.create({ signals: false });
  t.teardown(() => fresh.close());
  const names = await listNetns();
  t.notOk(
    names.some((n) => n.startsWith(stale.prefix)),
    `${stale.prefix}* removed`,
  );
  t.ok(names.includes(fresh.switchNs), 'the live run keeps its own');
  const swept = await removeStaleRigs();
  t.same(
    swept.filter((n) => n.startsWith(fresh.prefix)),
    [],
    "a live owner's namespaces are never swept",
  );
});
