/**
 * Per-type subscription state for one delta-xDS stream, applied exactly as the
 * xDS protocol text prescribes (rule numbers refer to
 * docs/design/delta-xds-rules.md, restating Envoy's xds_protocol.rst
 * "Incremental xDS"). Pure: no I/O, no clock.
 */

import type { OwedNames } from './owed-names';
import { NameTable } from './name-table';
import { utf8 } from './name-shard';

/** What a request owes the client, filled in by apply. */
export interface Owed {
  /** Names subscribed by this request (each must be answered, rule 9): the request's list itself. */
  readonly force: OwedNames;
  /** Names the client held explicitly and unsubscribed while still wildcard (rule 10). */
  readonly unsubNotify: Set<string>;
}

export class Subscription {
  /** Rule 4: until any explicit subscribe, the client is legacy-wildcard. */
  private legacy = true;
  private explicitWildcard = false;
  /** Bounded time per operation at any size (a flood may hold up to the name cap). */
  private readonly names = new NameTable();

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
   * round a wildcard would survive). What the request owes goes into `owed`
   * (null: nothing is owed beyond the first response). Each name is encoded
   * to UTF-8 once and copied as bytes into the table and the owed names; no
   * per-name allocation: a request may carry hundreds of thousands of names
   * (xds.maxReceiveBytes / ~11 bytes a name), and neither keeps a string.
   * Returns how many subscribe entries were names (not "*").
   */
  apply(subscribe: readonly string[], unsubscribe: readonly string[], owed: Owed | null): number {
    let added = 0;
    if (subscribe.length > 0) {
      // Rule 5: any explicit subscribe ends legacy wildcard mode for good.
      // Rule 22/envoy#16063: a reconnecting wildcard client that re-lists held
      // names keeps its wildcard only if it says "*" — the legacy flag is
      // replaced by the explicit flag below.
      this.legacy = false;
      const names = this.names;
      const force = owed?.force;
      for (let i = 0; i < subscribe.length; i++) {
        const n = subscribe[i]!;
        const end = utf8.encode(n);
        force?.pushBytes(utf8.buf, 0, end); // rule 9: even a repeated subscribe gets an answer
        if (n === '*') {
          this.explicitWildcard = true;
          continue;
        }
        names.addBytes(utf8.buf, 0, end);
        added++;
      }
    }
    for (let i = 0; i < unsubscribe.length; i++) {
      const n = unsubscribe[i]!;
      if (n === '*') {
        this.legacy = false;
        this.explicitWildcard = false;
        continue;
      }
      // Rule 8: unknown/phantom unsubscribes are no-ops.
      if (this.names.delete(n) && owed && this.wildcard) owed.unsubNotify.add(n);
    }
    return added;
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
