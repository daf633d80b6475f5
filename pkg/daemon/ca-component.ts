import type { DaemonConfig } from '../config';
import type { Clock } from '../lifecycle';
import type { Logger } from '../log';
import { Authority } from '../ca';
import type { DaemonComponent } from './daemon';
import { StartupError } from './errors';

/** The mesh CA from ca.*: the plug-in material in ca.dir, or the self-signed root in the state dir. */
export function openAuthority(cfg: DaemonConfig, clock: Clock, logger: Logger): Authority {
  try {
    return Authority.open({
      stateDir: cfg.stateDir,
      pluginDir: cfg.ca.dir || undefined,
      trustDomain: cfg.trustDomain,
      selfSignedKeyAlgorithm: cfg.ca.rootKeyType === 'ec' ? 'ec-p256' : 'rsa-2048',
      defaultTtlSeconds: Math.round(cfg.ca.defaultTtl / 1000),
      maxTtlSeconds: Math.round(cfg.ca.maxTtl / 1000),
      clock,
      logger,
    });
  } catch (e) {
    const from = cfg.ca.dir ? ` from ${cfg.ca.dir}` : '';
    throw new StartupError(`cannot load CA material${from}: ${(e as Error).message}`);
  }
}

/** First in the start order, so closed last: its signing threads outlive every caller (they start on first use). */
export function caComponent(authority: Authority): DaemonComponent {
  return {
    name: 'ca',
    start: async () => undefined,
    close: () => authority.close(),
    destroy: () => authority.destroy(),
  };
}
