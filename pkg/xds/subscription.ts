/**
 * Per-type subscription state for one delta-xDS stream, applied exactly as the
 * xDS protocol text prescribes (rule numbers refer to
 * ../shared/reference/xds-and-performance.md §3.1, restating xds_protocol.rst
 * "Incremental xDS"). Pure: no I/O, no clock.
 */
export interface SubscriptionChange {
  /** Names newly subscribed by this request (each must be answered, rule 9). */
  readonly added: readonly string[];
  /** Names the client held explicitly and unsubscribed while still wildcard (rule 10). */
  readonly unsubscribedUnderWildcard: readonly string[];
}

export class Subscription {
  /** Rule 4: until any explicit subscribe, the client is legacy-wildcard. */
  private legacy = true;
  private explicitWildcard = false;
  private readonly names = new Set<string>();

  get wildcard(): boolean {
    return this.legacy || this.explicitWildcard;
  }

  /** Explicit names (never contains "*"). */
  get explicitNames(): ReadonlySet<string> {
    return this.names;
  }

  has(name: string): boolean {
    return this.names.has(name);
  }

  /**
   * Applies one request's lists. Subscribe first, then unsubscribe (rule 7:
   * "*" in both on the first request means "nothing"; applied the other way
   * round a wildcard would survive).
   */
  apply(subscribe: readonly string[], unsubscribe: readonly string[]): SubscriptionChange {
    const added: string[] = [];
    if (subscribe.length > 0) {
      // Rule 5: any explicit subscribe ends legacy wildcard mode for good.
      // Rule 22/envoy#16063: a reconnecting wildcard client that re-lists held
      // names keeps its wildcard only if it says "*" — the legacy flag is
      // replaced by the explicit flag below.
      if (this.legacy) {
        this.legacy = false;
      }
      for (const n of subscribe) {
        if (n === '*') {
          this.explicitWildcard = true;
          continue;
        }
        if (!this.names.has(n)) this.names.add(n);
        added.push(n); // rule 9: even a repeated subscribe gets an answer
      }
    }
    const underWildcard: string[] = [];
    for (const n of unsubscribe) {
      if (n === '*') {
        this.legacy = false;
        this.explicitWildcard = false;
        continue;
      }
      if (this.names.delete(n) && this.wildcard) underWildcard.push(n);
      // Rule 8: unknown/phantom unsubscribes are no-ops.
    }
    return { added: dedupe(added), unsubscribedUnderWildcard: underWildcard };
  }

  /**
   * Rule 22 / istiod deltaWatchedResources: on a reconnect every name in
   * initial_resource_versions counts as subscribed — unless the client is
   * wildcard, where tracking names would cost memory per stream for nothing.
   */
  adoptInitialVersions(names: Iterable<string>): void {
    if (this.wildcard) return;
    for (const n of names) this.names.add(n);
  }
}

function dedupe(a: string[]): string[] {
  return a.length < 2 ? a : [...new Set(a)];
}
