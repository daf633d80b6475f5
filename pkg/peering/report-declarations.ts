import type { Logger } from '../log';
import type { PeerDeclarations } from './core';

/**
 * Logs the istio-remote Gateways that are not dialled (invalid, naming the local cluster, a second one for
 * a cluster), each once while it stays so: `reported` holds what the previous call logged. Returns the new set.
 */
export function reportDeclarations(log: Logger, reported: ReadonlySet<string>, d: PeerDeclarations): Set<string> {
  const lines = [
    ...d.invalid.map((i) => `invalid|${i.key}|${i.reason}`),
    ...d.self.map((k) => `self|${k}`),
    ...d.duplicates.map((x) => `dup|${x.key}|${x.cluster}`),
  ];
  for (const l of lines) {
    if (reported.has(l)) continue;
    const [kind, key, extra] = l.split('|');
    if (kind === 'invalid') log.warn({ gateway: key, reason: extra }, 'invalid istio-remote Gateway; not dialled');
    else if (kind === 'self') log.info({ gateway: key }, 'istio-remote Gateway names the local cluster; ignored');
    else log.warn({ gateway: key, cluster: extra }, 'second istio-remote Gateway for the same cluster; ignored');
  }
  return new Set(lines);
}
