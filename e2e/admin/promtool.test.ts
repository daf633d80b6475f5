import t from 'tap';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { TYPE_ADDRESS, TYPE_AUTHORIZATION } from '../../pkg/wire';
import { createAdmin } from '../../pkg/admin';
import { startDaemon } from '../harness/daemon-fixture';
import { createPeeringWith } from '../../pkg/peering';
import { peeringWire, remote } from '../peering/harness';
import { MESH, adminOf, get } from './helpers';

const PROMTOOL = '/usr/bin/promtool';

/**
 * The only lint findings allowed: istiod's own counter names (no `_total`, some
 * ending `_count`), kept so the Istio control-plane dashboard works unchanged
 * (issue 5); istiod's own /metrics draws the same findings. Each entry is one
 * exact promtool line. Anything else — prom-client's defaults included — and
 * any parse error fails the test.
 */
const ISTIOD_COUNTERS = [
  'pilot_xds_pushes',
  'pilot_total_xds_rejects',
  'pilot_xds_expired_nonce',
  'citadel_server_csr_count',
  'citadel_server_success_cert_issuance_count',
  'citadel_server_authentication_failure_count',
];
const ALLOWED_LINT: ReadonlyMap<string, string> = new Map([
  ...ISTIOD_COUNTERS.map((n) => [`${n} counter metrics should have "_total" suffix`, n] as const),
  ...ISTIOD_COUNTERS.filter((n) => n.endsWith('_count')).map(
    (n) => [`${n} non-histogram and non-summary metrics should not have "_count" suffix`, n] as const,
  ),
]);

/** The names issue 5 lists, plus process/Node.js defaults. */
const ISSUE5_NAMES = [
  'pilot_xds',
  'pilot_xds_pushes',
  'pilot_xds_push_time',
  'pilot_xds_send_time',
  'pilot_proxy_convergence_time',
  'pilot_debounce_time',
  'pilot_pushcontext_init_seconds',
  'pilot_total_xds_rejects',
  'pilot_xds_expired_nonce',
  'citadel_server_csr_count',
  'citadel_server_success_cert_issuance_count',
  'citadel_server_root_cert_expiry_timestamp',
  'citadel_server_cert_chain_expiry_timestamp',
  'istiod_uptime_seconds',
  'ambientd_mesh_propagation_seconds',
  'process_cpu_seconds_total',
  'process_resident_memory_bytes',
  'nodejs_eventloop_lag_seconds',
  'nodejs_heap_size_used_bytes',
  'ambientd_peer_connected',
  'ambientd_peer_synced',
  'ambientd_peer_resources',
  'ambientd_peer_terminations_total',
  'ambientd_peer_last_sync_timestamp_seconds',
];

t.test(
  'promtool check metrics on a live scrape after a ztunnel connected and got pushes',
  { skip: !fs.existsSync(PROMTOOL) && 'promtool not installed (make sysdeps)' },
  async (t) => {
    // The real peering layer with one declared peer that never answers (port 9 on 127.0.0.3 is closed), so peer
    // series exist.
    const f = await startDaemon({
      files: {
        'mesh.yaml': MESH,
        'peer.yaml': remote({ cluster: 'c9', network: 'net9', port: 9, address: '127.0.0.3' }),
      },
      deps: {
        wire: peeringWire(),
        peering: createPeeringWith({ backoff: { initialMs: 50, maxMs: 500 } }),
        admin: createAdmin,
      },
    });
    t.teardown(() => f.close());
    const z = f.ztunnel();
    z.connect();
    await z.until(() => z.held(TYPE_ADDRESS).size > 0 && z.acked.get(TYPE_AUTHORIZATION), 'ztunnel synced');
    // A registry edit makes a second, incremental push.
    f.write('mesh.yaml', MESH.replace('10.0.0.6', '10.0.0.7'));
    await z.until(() => {
      const w = z.held(TYPE_ADDRESS).get('c1//Pod/default/web-2')?.value.workload as
        { addresses?: Buffer[] } | undefined;
      return w?.addresses?.[0]?.[3] === 7;
    }, 'edit reached the ztunnel');
    await z.until(
      async () =>
        (await get(adminOf(f.daemon).debugPort, '/debug/syncz')).json<{ streams: { inSync: boolean }[] }>().streams[0]
          ?.inSync,
      'ACKed',
    );

    await z.until(
      async () =>
        /^ambientd_peer_terminations_total\{/m.test((await get(adminOf(f.daemon).metricsPort, '/metrics')).body),
      'a peer dial failed',
    );
    const scrape = await get(adminOf(f.daemon).metricsPort, '/metrics');
    t.equal(scrape.status, 200);
    t.match(scrape.headers['content-type'], /^text\/plain; version=0\.0\.4; charset=utf-8$/);
    const body = scrape.body;

    const p = spawnSync(PROMTOOL, ['check', 'metrics'], { input: body, encoding: 'utf8', timeout: 30_000 });
    const findings = `${p.stdout}${p.stderr}`
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean);
    t.not(p.status, 1, `promtool parsed the exposition (no format errors): ${findings.join(' | ')}`);
    t.ok(p.status === 0 || p.status === 3, `promtool exit ${p.status}`);
    t.same(
      findings.filter((l) => !ALLOWED_LINT.has(l)),
      [],
      'no lint findings beyond the documented istiod names',
    );
    // promtool lints the families that have samples: every allowed finding whose metric has one must appear,
    // so the list above is exactly what is kept, not a blanket pass.
    const sampled = (name: string): boolean => new RegExp(`^${name}(\\{.*\\})? `, 'm').test(body);
    const expected = [...ALLOWED_LINT]
      .filter(([, name]) => sampled(name))
      .map(([line]) => line)
      .sort();
    t.same([...findings].sort(), expected, 'exactly the istiod-name findings, nothing more or less');
    t.notMatch(body, /^# TYPE nodejs_active_\w+_total gauge$/m, "no gauge named *_total (prom-client's active_* sums)");
    t.match(body, /^# TYPE nodejs_active_handles gauge$/m, 'the labelled active-handles gauge stays');

    for (const name of ISSUE5_NAMES) t.match(body, new RegExp(`^# TYPE ${name} `, 'm'), `${name} exported`);
    t.match(body, /^pilot_xds\{version="[^"]*"\} 1$/m, 'one connected client');
    t.match(body, /^pilot_xds_pushes\{type="address"\} [1-9]/im, 'Address pushes counted');
    t.match(body, /^citadel_server_root_cert_expiry_timestamp \d{10}(\.\d+)?$/m, 'root expiry is a unix timestamp');
    t.match(body, /^citadel_server_cert_chain_expiry_timestamp \d{10}(\.\d+)?$/m);
    t.match(body, /^ambientd_peer_connected\{peer="c9"\} 0$/m, 'the unreachable peer is not connected');
    // Bounded label sets: no resource name (workload uid, hostname, policy) is ever a label value.
    for (const forbidden of ['web-1', 'web-2', 'web.default', 'allow-web', 'c1//Pod'])
      t.notMatch(body, forbidden, `no "${forbidden}" in any label`);
  },
);
