import * as os from 'node:os';
import * as crypto from 'node:crypto';
import type { Logger } from '../log';
import type { Clock, Component } from '../lifecycle';
import { RefreshingKeySet, type TrustedIssuer } from '../auth';
import {
  GatewayStatusWriter,
  KubeJwksProvider,
  LeaderElector,
  type KubeApi,
  type KubeMetrics,
  type PeerGatewayStatus,
} from '../kube';

/**
 * In-cluster extras (issue 8): the service-account issuer and keys discovered
 * from the API server, so ztunnel's projected tokens verify locally; and
 * istio-remote Gateway status written back by the Lease holder.
 */
export async function kubeTokenIssuer(
  api: KubeApi,
  o: { audiences: readonly string[]; logger: Logger; clock: Clock },
): Promise<TrustedIssuer | undefined> {
  try {
    const provider = await KubeJwksProvider.create(api, { logger: o.logger, clock: o.clock });
    const keys = new RefreshingKeySet({
      source: `kube-apiserver ${provider.issuer}`,
      logger: o.logger,
      clock: o.clock,
      loader: async () => {
        await provider.refresh();
        return { keys: await provider.getKeys() };
      },
    });
    return { issuer: provider.issuer, audiences: o.audiences, keys, method: 'jwt' };
  } catch (e) {
    o.logger.warn(
      { err: (e as Error).message },
      'service-account issuer discovery failed; ' +
        'Kubernetes tokens will be refused until configured (auth.jwksUrl/jwksFile)',
    );
    return undefined;
  }
}

interface PeerStatusLike {
  gateway: string;
  generation?: number;
  conditions: { type: string; status: string; reason: string; message: string }[];
}

export function peerStatusWriter(o: {
  api: KubeApi;
  logger: Logger;
  clock: Clock;
  metrics: KubeMetrics;
  namespace: string;
  peers: () => PeerStatusLike[];
}): Component {
  const metrics = o.metrics;
  const election = new LeaderElector({
    api: o.api,
    namespace: o.namespace,
    name: 'ambientd-peer-status',
    logger: o.logger,
    clock: o.clock,
    metrics,
    identity: `${os.hostname()}-${crypto.randomBytes(4).toString('hex')}`,
  });
  const listeners = new Set<() => void>();
  let last = '';
  // The peering layer has no change feed for status; a cheap 1 s comparison stands in for one.
  const poll = setInterval(() => {
    const now = JSON.stringify(o.peers());
    if (now !== last) {
      last = now;
      for (const l of listeners) l();
    }
  }, 1000);
  poll.unref();
  const writer = new GatewayStatusWriter({
    api: o.api,
    logger: o.logger,
    clock: o.clock,
    metrics,
    election,
    provider: {
      peers: (): PeerGatewayStatus[] =>
        o.peers().map((p) => {
          const [ns, name] = p.gateway.split('/') as [string, string];
          // 0 (unknown) = the writer uses the live object's metadata.generation.
          return {
            gatewayNamespace: ns,
            gatewayName: name,
            generation: p.generation ?? 0,
            conditions: p.conditions.map((c) => ({
              type: c.type,
              status: c.status as 'True' | 'False' | 'Unknown',
              reason: c.reason,
              message: c.message,
            })),
          };
        }),
      onChange: (cb: () => void) => listeners.add(cb),
    },
  });
  return {
    async start() {
      await election.start();
      await writer.start();
    },
    async close() {
      clearInterval(poll);
      await writer.close();
      await election.close();
    },
    destroy() {
      clearInterval(poll);
      void writer.close();
      void election.close();
    },
  };
}
