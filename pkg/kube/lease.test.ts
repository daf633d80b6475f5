import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { waitFor } from '../lifecycle';
import { createSilentLogger } from '../log';
import { KubeClient } from './client';
import { LeaderElector } from './lease';

/** Just enough of the Lease API: GET/POST/PUT with resourceVersion conflicts (409). */
async function leaseServer() {
  let lease: Record<string, unknown> | undefined;
  let rv = 1;
  const state = { failAll: false, puts: 0 };
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const send = (code: number, o: unknown) => {
        res.writeHead(code, { 'content-type': 'application/json' });
        res.end(JSON.stringify(o));
      };
      if (state.failAll)
        return void send(503, { kind: 'Status', code: 503, reason: 'ServiceUnavailable', message: 'down' });
      if (req.method === 'GET')
        return lease
          ? void send(200, lease)
          : void send(404, { kind: 'Status', code: 404, reason: 'NotFound', message: 'not found' });
      const o = JSON.parse(body) as { metadata: Record<string, unknown> };
      if (req.method === 'POST') {
        if (lease) return void send(409, { kind: 'Status', code: 409, reason: 'AlreadyExists', message: 'exists' });
        lease = { ...o, metadata: { ...o.metadata, resourceVersion: String(++rv) } };
        return void send(201, lease);
      }
      state.puts++;
      if (
        (lease?.metadata as { resourceVersion?: string } | undefined)?.resourceVersion !== o.metadata.resourceVersion
      ) {
        return void send(409, {
          kind: 'Status',
          code: 409,
          reason: 'Conflict',
          message: 'the object has been modified',
        });
      }
      lease = { ...o, metadata: { ...o.metadata, resourceVersion: String(++rv) } };
      send(200, lease);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    state,
    holder: () => (lease?.spec as { holderIdentity?: string } | undefined)?.holderIdentity,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

const FAST = { leaseDurationMs: 600, renewDeadlineMs: 400, retryPeriodMs: 50 };

t.test('one leader; a crashed leader is replaced only after the lease duration; lost renewals step down', async (t) => {
  const srv = await leaseServer();
  const api = new KubeClient({ server: srv.url, source: 't' });
  const mk = (identity: string) =>
    new LeaderElector({ api, namespace: 'istio-system', name: 'l', identity, logger: createSilentLogger(), ...FAST });
  const a = mk('a');
  const b = mk('b');
  t.teardown(async () => {
    a.destroy();
    b.destroy();
    api.close();
    await srv.close();
  });
  const changes: string[] = [];
  a.onChange((l) => changes.push(`a:${l}`));
  b.onChange((l) => changes.push(`b:${l}`));
  await a.start();
  await waitFor(() => a.isLeader(), { what: 'a leads' });
  await b.start();
  // b keeps trying while a renews: several rounds pass without b leading.
  const putsBefore = srv.state.puts;
  await waitFor(() => srv.state.puts >= putsBefore + 5, { what: 'a renewing' });
  t.notOk(b.isLeader(), 'b never leads while a renews');
  t.equal(srv.holder(), 'a');

  a.destroy(); // a crash: no release
  const crashedAt = performance.now();
  await waitFor(() => b.isLeader(), { what: 'b takes over' });
  t.ok(performance.now() - crashedAt >= 500, 'not before the lease duration (observed locally) ran out');
  t.equal(srv.holder(), 'b');

  srv.state.failAll = true;
  await waitFor(() => !b.isLeader(), { what: 'b steps down after the renew deadline' });
  t.same(changes, ['a:true', 'b:true', 'b:false']);
});

t.test('close() releases the lease so a peer takes over at once', async (t) => {
  const srv = await leaseServer();
  const api = new KubeClient({ server: srv.url, source: 't' });
  // A long lease: only a release explains a quick takeover.
  const mk = (identity: string) =>
    new LeaderElector({
      api,
      namespace: 'istio-system',
      name: 'l',
      identity,
      logger: createSilentLogger(),
      leaseDurationMs: 60_000,
      renewDeadlineMs: 40_000,
      retryPeriodMs: 50,
    });
  const a = mk('a');
  const b = mk('b');
  t.teardown(async () => {
    a.destroy();
    b.destroy();
    api.close();
    await srv.close();
  });
  await a.start();
  await waitFor(() => a.isLeader());
  await b.start();
  await a.close();
  t.equal(srv.holder(), '', 'released');
  await waitFor(() => b.isLeader(), { timeoutMs: 5000, what: 'b takes the released lease' });
  t.equal(srv.holder(), 'b');
});
