import { TYPE_ADDRESS, TYPE_AUTHORIZATION } from '../wire';
import type { Encoder, PushBuildResult } from '../push';
import type { ChangeSet, RegistrySnapshot } from '../registry';
import { generateLocal, type LocalOutput, type MeshContext } from '../translate';
import type { PeeringLayer } from '../peering';

export interface PushBuilderOptions {
  encoder: Encoder;
  peering?: PeeringLayer;
  snapshot: () => RegistrySnapshot;
  mesh: () => MeshContext;
  /** Registry changes since the previous build (taken: the next call returns only newer ones). */
  takeChanges: () => ChangeSet;
}

/**
 * The pusher's build step: local generation, the peering merge when peering
 * is on, and encoding into cache commits. It owns what one build remembers of
 * the previous one, so a build can pass the encoder "what changed" hints
 * instead of having it compare every resource.
 */
export class PushBuilder {
  private previous?: LocalOutput;
  private lastMesh?: string;
  private lastPassthrough = false;
  /** A peering build started and has not reached the encoder yet (set while building; still set = it threw). */
  private peeringBuildOpen = false;

  constructor(private readonly o: PushBuilderOptions) {}

  build(): PushBuildResult {
    const { encoder, peering } = this.o;
    const snapshot = this.o.snapshot();
    const changes = this.o.takeChanges();
    const mesh = this.o.mesh();
    const meshKey = JSON.stringify(mesh);
    // A changed mesh context (e.g. the network label) invalidates every output.
    const incremental = this.previous !== undefined && meshKey === this.lastMesh;
    this.lastMesh = meshKey;
    const delta = generateLocal({ snapshot, mesh, previous: incremental ? this.previous : undefined, changes: incremental ? changes : undefined });
    this.previous = delta.output;
    const authzHint = incremental ? { changed: delta.changedAuthorizations, removed: delta.removedAuthorizations } : undefined;
    if (!peering) {
      return {
        commits: [
          encoder.diff(TYPE_ADDRESS, delta.output.addresses, incremental ? { changed: delta.changedAddresses, removed: delta.removedAddresses } : undefined),
          encoder.diff(TYPE_AUTHORIZATION, delta.output.authorizations, authzHint),
        ],
      };
    }
    // A build that threw may have advanced the merge without reaching the encoder: start over.
    const previousFailed = this.peeringBuildOpen;
    this.peeringBuildOpen = true;
    const merged = peering.build({ snapshot, mesh, local: delta.output, full: previousFailed });
    // Hints are safe only when this build and the previous one were both the plain local output,
    // or when the merge itself says what changed since its previous (encoded) result.
    const hinted = incremental && merged.passthrough === true && this.lastPassthrough;
    this.lastPassthrough = merged.passthrough === true;
    const addressHint = hinted ? { changed: delta.changedAddresses, removed: delta.removedAddresses } : previousFailed ? undefined : merged.addressHint;
    const commits = [
      encoder.diff(TYPE_ADDRESS, merged.addresses, addressHint, { live: merged.live === true, extra: merged.extraAddresses }),
      encoder.diff(TYPE_AUTHORIZATION, merged.authorizations, authzHint),
    ];
    for (const [typeUrl, m] of merged.exports) commits.push(encoder.diff(typeUrl, m));
    this.peeringBuildOpen = false;
    return { commits, originAt: merged.originAt };
  }
}
