import t from 'tap';
import { systemClock } from '../../pkg/lifecycle';
import { createSilentLogger } from '../../pkg/log';
import { LocalRegistry } from '../../pkg/registry';
import { generateLocal } from '../../pkg/translate';
import { ISTIOD_SHAPE, istiodShapeObjects } from './istiod-shape';

t.test("istiod's serviceentry-workloadentry shape translates to the 1,102 Addresses istiod serves", async (t) => {
  const reg = new LocalRegistry({ logger: createSilentLogger(), clock: systemClock });
  reg.replaceSource(
    'bench',
    istiodShapeObjects().map((obj) => ({ obj })),
  );
  t.same(reg.snapshot().rejected, [], 'every object accepted');
  const out = generateLocal({
    snapshot: reg.snapshot(),
    mesh: {
      clusterId: 'Kubernetes',
      network: '',
      trustDomain: 'cluster.local',
      domainSuffix: 'cluster.local',
      rootNamespace: 'istio-system',
    },
  }).output;
  const all = [...out.addresses.values()];
  const services = all.filter((a) => 'service' in a && a.service);
  const workloads = all.flatMap((a) => ('workload' in a && a.workload ? [a.workload] : []));
  t.equal(out.addresses.size, ISTIOD_SHAPE.addresses);
  t.equal(services.length, ISTIOD_SHAPE.services + 1, 'one Service per ServiceEntry');
  t.equal(workloads.length, ISTIOD_SHAPE.instances + 1, 'one workload per WorkloadEntry and the STATIC endpoint');
  // WorkloadEntry random-j selects service-(j mod 100): ten workloads per service, as in istiod's benchmark.
  const perService = new Map<string, number>();
  for (const w of workloads) {
    for (const h of Object.keys(w.services ?? {})) perService.set(h, (perService.get(h) ?? 0) + 1);
  }
  const perSvc = ISTIOD_SHAPE.instances / ISTIOD_SHAPE.services;
  t.equal(perService.get('default/service-7.default.svc.cluster.local'), perSvc);
  t.equal(perService.get('default/proxy-service-instance.default.svc.cluster.local'), 1);
});
