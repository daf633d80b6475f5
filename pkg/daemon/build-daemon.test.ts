import t, { type Test } from 'tap';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Registry } from 'prom-client';
import { loadConfig } from '../config';
import { waitFor } from '../lifecycle';
import { createSilentLogger } from '../log';
import { loadWire } from '../wire';
import { buildDaemon } from './build-daemon';
import type { AdminLayer, Daemon } from './daemon';

/** Connects to 127.0.0.1:port: true if something accepts. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

async function build(t: Test, admin?: (d: Daemon) => AdminLayer): Promise<Daemon> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ambientd-build-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.mkdirSync(path.join(dir, 'registry'));
  const cfg = loadConfig({
    flags: {
      'xds-listen': '127.0.0.1:0',
      'registry-dir': path.join(dir, 'registry'),
      'state-dir': path.join(dir, 'state'),
      'ca-root-key-type': 'ec',
    },
  });
  return buildDaemon(cfg, { logger: createSilentLogger(), metrics: new Registry(), wire: loadWire(), admin });
}

t.test('every part exists once built, before start; components are listed in start order', async (t) => {
  const d = await build(t);
  t.teardown(() => d.destroy());
  t.match(d.authority.rootBundlePem(), /BEGIN CERTIFICATE/, 'CA material loaded');
  t.match(d.serving.current().certChainPem, /BEGIN CERTIFICATE/, 'first serving certificate issued');
  t.same(d.xds.status(), [], 'xDS server built, no streams');
  t.equal(d.grpcPort, 0, 'port not open before start');
  t.same(
    d.components.map((c) => c.name),
    ['ca', 'serving-identity', 'registry-source', 'push', 'grpc'],
  );
});

t.test('one start opens the port; close runs in reverse order, once: admin starts last, closes first', async (t) => {
  const events: string[] = [];
  let daemon: Daemon | undefined;
  const d = await build(t, (dd) => {
    daemon = dd;
    return {
      start: async () => {
        events.push(`admin start, port open: ${await accepts(dd.grpcPort)}`);
      },
      close: async () => {
        events.push(`admin close, port open: ${await accepts(dd.grpcPort)}`);
      },
      destroy: () => events.push('admin destroy'),
    };
  });
  t.equal(daemon, d, 'the admin factory gets the daemon it belongs to');
  t.equal(d.components.at(-1)?.name, 'admin');
  const [a, b] = await Promise.all([d.start(), d.start()]);
  t.ok(a.grpcPort > 0 && a.grpcPort === b.grpcPort, 'one start, one port');
  t.ok(await accepts(a.grpcPort), 'port open after start');
  const first = d.close();
  t.equal(d.close(), first, 'close is idempotent');
  await first;
  t.notOk(await accepts(a.grpcPort), 'port closed after close');
  t.same(events, ['admin start, port open: true', 'admin close, port open: true']);
});

t.test('close on a daemon that was built but never started resolves', async (t) => {
  const d = await build(t);
  await d.close();
  t.pass('closed');
});

t.test('a file edit is applied inside the push that commits it: the file source waits for the pusher', async (t) => {
  const d = await build(t);
  t.teardown(() => d.destroy());
  await d.start();
  // Each registry change: had the cache committed by the end of the synchronous work it belongs to? Applied at the
  // push (the gate), the commit follows in the same call stack; applied by the file source itself (its settle
  // timer), the push comes on a later turn.
  const committedWith: boolean[] = [];
  const off = d.registry.onChange(() => {
    const at = d.cache.seq;
    process.nextTick(() => committedWith.push(d.cache.seq > at));
  });
  t.teardown(off);
  const dir = d.cfg.registry.type === 'file' ? d.cfg.registry.dir : '';
  for (const [i, ip] of ['10.9.0.1', '10.9.0.2', '10.9.0.3'].entries()) {
    fs.writeFileSync(
      path.join(dir, 'edit.yaml'),
      'apiVersion: v1\nkind: Namespace\nmetadata: { name: edits, labels: { istio.io/dataplane-mode: ambient } }\n' +
        '---\napiVersion: v1\nkind: Pod\nmetadata: { name: p, namespace: edits }\n' +
        `spec: { nodeName: n1 }\nstatus: { phase: Running, podIP: ${ip} }\n`,
    );
    await waitFor(() => committedWith.length > i, { timeoutMs: 5000, what: `edit ${i + 1} applied` });
  }
  t.same(committedWith, [true, true, true], 'every edit was committed in the push that applied it');
  await d.close();
});
