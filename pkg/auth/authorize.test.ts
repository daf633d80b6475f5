// Who may do what: mTLS / composite / insecure authenticators, impersonation and the xDS node namespace.
import t from 'tap';
import {
  authorizeImpersonation,
  authorizeNodeNamespace,
  CompositeAuthenticator,
  InsecureAuthenticator,
  MtlsAuthenticator,
} from './index';
import type { CallContext, CallerIdentity, WorkloadPlacement } from './index';
import { bearer, reason, reasonSync } from './testing/auth-fixtures';

t.test('mTLS, composite and insecure', async (t) => {
  const mtls = new MtlsAuthenticator({ trustDomains: ['cluster.local'] });
  const peer = (san: string) => ({
    metadata: {},
    peerCertificate: { raw: Buffer.from([1]), subjectaltname: san } as unknown as CallContext['peerCertificate'],
  });
  const id = await mtls.authenticate(peer('DNS:x.svc, URI:spiffe://cluster.local/ns/a/sa/b'));
  t.same(id, {
    spiffeId: 'spiffe://cluster.local/ns/a/sa/b',
    trustDomain: 'cluster.local',
    namespace: 'a',
    serviceAccount: 'b',
    method: 'mtls',
  });
  t.equal(await reason(mtls.authenticate(peer('URI:spiffe://other.td/ns/a/sa/b'))), 'auth.wrong_trust_domain');
  t.equal(
    await reason(mtls.authenticate(peer('URI:spiffe://cluster.local/ns/a/sa/b, URI:spiffe://cluster.local/ns/c/sa/d'))),
    'auth.bad_peer_certificate',
  );
  t.equal(await reason(mtls.authenticate(peer('DNS:only.dns'))), 'auth.bad_peer_certificate');

  const tokenAuth = { authenticate: async (): Promise<CallerIdentity> => ({ ...id, method: 'jwt' }) };
  const composite = new CompositeAuthenticator({ mtls, token: tokenAuth });
  t.equal(
    (await composite.authenticate(peer('URI:spiffe://cluster.local/ns/a/sa/b'))).method,
    'mtls',
    'peer cert → mTLS',
  );
  t.equal((await composite.authenticate(bearer('x'))).method, 'jwt', 'bearer → token');
  t.equal(await reason(composite.authenticate({ metadata: {} })), 'auth.no_credentials', 'nothing → refused');
  const dev = new CompositeAuthenticator({
    token: tokenAuth,
    insecure: new InsecureAuthenticator({ trustDomain: 'cluster.local', nodeName: 'n1' }),
  });
  const anon = await dev.authenticate({ metadata: {} });
  t.same(anon, {
    spiffeId: 'spiffe://cluster.local/ns/istio-system/sa/ztunnel',
    trustDomain: 'cluster.local',
    namespace: 'istio-system',
    serviceAccount: 'ztunnel',
    method: 'insecure',
    nodeName: 'n1',
  });
});

t.test('impersonation matrix', async (t) => {
  const placement: WorkloadPlacement = {
    identitiesOnNode: (n) =>
      new Set(
        n === 'node-a' ? ['spiffe://cluster.local/ns/default/sa/web'] : ['spiffe://cluster.local/ns/default/sa/db'],
      ),
  };
  const ztunnel: CallerIdentity = {
    spiffeId: 'spiffe://cluster.local/ns/istio-system/sa/ztunnel',
    trustDomain: 'cluster.local',
    namespace: 'istio-system',
    serviceAccount: 'ztunnel',
    method: 'jwt',
    nodeName: 'node-a',
  };
  const web: CallerIdentity = {
    spiffeId: 'spiffe://cluster.local/ns/default/sa/web',
    trustDomain: 'cluster.local',
    namespace: 'default',
    serviceAccount: 'web',
    method: 'jwt',
    nodeName: 'node-a',
  };
  t.equal(
    authorizeImpersonation(ztunnel, 'spiffe://cluster.local/ns/default/sa/web', placement),
    'spiffe://cluster.local/ns/default/sa/web',
    'own node ok',
  );
  t.equal(
    await reasonSync(() => authorizeImpersonation(ztunnel, 'spiffe://cluster.local/ns/default/sa/db', placement)),
    'auth.impersonation_not_on_node',
    'other node refused',
  );
  t.equal(
    await reasonSync(() => authorizeImpersonation(web, 'spiffe://cluster.local/ns/default/sa/db', placement)),
    'auth.impersonation_untrusted_caller',
    'untrusted caller refused',
  );
  t.equal(
    authorizeImpersonation(web, web.spiffeId, placement),
    web.spiffeId,
    'asking for yourself is not impersonation',
  );
  t.equal(
    await reasonSync(() =>
      authorizeImpersonation(
        { ...ztunnel, nodeName: undefined },
        'spiffe://cluster.local/ns/default/sa/web',
        placement,
      ),
    ),
    'auth.impersonation_no_node',
    'no node claim refused',
  );
  t.equal(
    await reasonSync(() => authorizeImpersonation(ztunnel, 'spiffe://other/ns/default/sa/web', placement)),
    'auth.impersonation_foreign_trust_domain',
  );
  t.equal(
    await reasonSync(() => authorizeImpersonation(ztunnel, 'garbage', placement)),
    'auth.impersonation_bad_identity',
  );
  t.equal(
    authorizeImpersonation(
      web,
      'spiffe://cluster.local/ns/default/sa/web2',
      { identitiesOnNode: (n) => new Set(n === 'node-a' ? ['spiffe://cluster.local/ns/default/sa/web2'] : []) },
      ['default/web'],
    ),
    'spiffe://cluster.local/ns/default/sa/web2',
    'trusted node accounts are configurable',
  );
  t.equal(
    await reasonSync(() =>
      authorizeImpersonation(ztunnel, 'spiffe://cluster.local/ns/default/sa/web', placement, ['default/web']),
    ),
    'auth.impersonation_untrusted_caller',
    'ztunnel not trusted when the list omits it',
  );
});

t.test('xDS node namespace must match the caller', async (t) => {
  const caller: CallerIdentity = {
    spiffeId: 'spiffe://td/ns/istio-system/sa/ztunnel',
    trustDomain: 'td',
    namespace: 'istio-system',
    serviceAccount: 'ztunnel',
    method: 'jwt',
  };
  t.doesNotThrow(() => authorizeNodeNamespace(caller, 'istio-system'));
  t.doesNotThrow(() => authorizeNodeNamespace(caller, undefined), 'absent NAMESPACE left to policy');
  t.equal(await reasonSync(() => authorizeNodeNamespace(caller, 'default')), 'auth.node_namespace_mismatch');
});
