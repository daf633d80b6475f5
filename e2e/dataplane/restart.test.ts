import t from 'tap';
import { waitFor } from '../../pkg/lifecycle';
import { Rig, type RigPod } from './harness';
import { gatewayPair } from './gateway-topology';
import { addWebPod, untilEndpoints, WEB_GLOBAL_HOST } from './topologies';

// Scenario 5 of issue #17: restarts during traffic, two networks through B's east-west gateway.
//  - A daemon restart (either cluster): the data plane does not depend on the control plane being up, so an
//    established connection keeps working, new ones keep succeeding from cached state, and once the stream is
//    back a change made after the restart reaches the data plane.
//  - A gateway restart (SIGTERM): the gateway drains — open tunnels finish, new streams are refused — so an
//    established connection keeps working until it ends; new connections succeed once a new gateway is up.
//  - A gateway crash (SIGKILL): established connections through it end at both ends, none is left half-open.
const skip = Rig.unavailable();
t.setTimeout(240_000);

async function openCount(pods: RigPod[]): Promise<number> {
  let n = 0;
  for (const p of pods) n += (await p.agent.stats())['8080']?.open ?? 0;
  return n;
}

t.test('restarts during traffic: daemons, a draining gateway, a crashed gateway', { skip }, async (t) => {
  const rig = await Rig.create({ tag: 'restart' });
  t.teardown(() => rig.close({ keep: !t.passing() }));
  const { a, b, client, web, gw } = await gatewayPair(rig);
  const vip = await untilEndpoints(client, WEB_GLOBAL_HOST, 1);
  const pods = [...web];

  for (const which of ['a', 'b'] as const) {
    await t.test(`daemon of cluster-${which} restarts during traffic`, async (t) => {
      const c = which === 'a' ? a : b;
      const held = await client.open(vip, 80);
      t.equal(await held.echo('before'), 'before');
      await c.stopDaemon();
      t.equal(await held.echo('daemon down'), 'daemon down', 'established connection works with the daemon down');
      t.ok((await client.reach(vip, 80)).banner, 'a new connection succeeds from cached state');
      await c.startDaemon();
      t.equal(await held.echo('after'), 'after', 'and after the restart');
      // Proof the streams are back (client ztunnel → A, gateway → B, A → B peering): a pod added in B after the
      // restart is reached from A. The gateway picks endpoints, so only a new pod's banner proves it.
      const fresh = await addWebPod(b, `web-b-${pods.length}`);
      pods.push(fresh);
      const seen = await waitFor(
        async () => {
          const r = await client.reach(vip, 80);
          return r.banner === fresh.name;
        },
        { timeoutMs: 30_000, intervalMs: 20, what: `a connection from A landing on ${fresh.name}` },
      );
      t.ok(seen, `reached ${fresh.name}, added after the restart`);
      t.ok(await held.finish(), 'the held connection closes cleanly');
    });
  }

  await t.test('gateway SIGTERM: the open tunnel finishes, new connections need the new gateway', async (t) => {
    const held = await client.open(vip, 80);
    t.equal(await held.echo('before'), 'before');
    const exited = gw.stop(30_000);
    // Draining: no new tunnels are accepted (the new connection is refused) …
    await waitFor(async () => (await gw.get(15020, '/healthz/ready').catch(() => ({ status: 0 }))).status !== 200, {
      timeoutMs: 10_000,
      intervalMs: 20,
      what: 'the gateway draining',
    });
    t.notOk((await client.reach(vip, 80)).banner, 'a new connection is refused while the gateway drains');
    // … while the open one keeps working until it ends.
    t.equal(await held.echo('draining'), 'draining', 'the established connection works during the drain');
    t.ok(await held.finish(), 'and closes cleanly');
    t.equal(await exited, 0, 'the gateway exits 0 once its last tunnel is done');
    await gw.restart();
    await waitFor(async () => (await client.reach(vip, 80)).banner !== undefined, {
      timeoutMs: 30_000,
      intervalMs: 20,
      what: 'a new connection through the new gateway',
    });
    t.pass('new connections succeed through the new gateway');
    await waitFor(async () => (await openCount(pods)) === 0, {
      timeoutMs: 10_000,
      intervalMs: 50,
      what: 'no open app connection',
    });
    t.pass('nothing left open at the apps');
  });

  await t.test('gateway SIGKILL: established connections end at both ends', async (t) => {
    const held = [await client.open(vip, 80), await client.open(vip, 80)];
    for (const h of held) t.equal(await h.echo('x'), 'x');
    t.equal(await openCount(pods), 2, 'two connections open at the apps');
    gw.proc.kill('SIGKILL');
    await gw.proc.exited;
    for (const h of held) t.ok(await h.endedByPeer(15_000), 'the client side saw the connection end');
    for (const h of held) h.close();
    await waitFor(async () => (await openCount(pods)) === 0, {
      timeoutMs: 15_000,
      intervalMs: 50,
      what: 'apps see the end',
    });
    t.pass('the destination side ended too: nothing half-open');
    await gw.restart();
    await waitFor(async () => (await client.reach(vip, 80)).banner !== undefined, {
      timeoutMs: 30_000,
      intervalMs: 20,
      what: 'a new connection through the restarted gateway',
    });
    t.pass('new connections succeed once the gateway is back');
  });
});
