import { fullDelta, pick, UnconfirmedRemovals, type Generation, type ResourceDelta } from '../push';
import { TYPE_ADDRESS, TYPE_AUTHORIZATION } from '../wire';
import type { ChangeSet, RegistrySnapshot } from '../registry';
import { generateLocal } from './generate';
import type { LocalOutput, MeshContext } from './types';

/** One local build: the output (what the peering merge reads) and its Address and Authorization deltas. */
export interface LocalGeneration extends Generation {
  readonly output: LocalOutput;
  readonly address: ResourceDelta;
  readonly authorization: ResourceDelta;
}

export interface LocalInput {
  snapshot: RegistrySnapshot;
  mesh: MeshContext;
  /** Registry changes since the previous build's snapshot. */
  changes: ChangeSet;
}

/**
 * Local translation as a push generator: generateLocal over the previous output and the registry's changes,
 * its changed/removed sets (content differences, translate's Writer) turned into ResourceDeltas. O(changes)
 * per incremental build. A full build translates afresh and lists everything (ResourceDelta's contract).
 */
export class LocalGenerator {
  private previous?: LocalOutput;
  private readonly unconfirmed = { address: new UnconfirmedRemovals(), authorization: new UnconfirmedRemovals() };

  generate(input: LocalInput, full: boolean): LocalGeneration {
    const { snapshot, mesh, changes } = input;
    const previous = this.previous;
    const { address: ua, authorization: uz } = this.unconfirmed;
    ua.begin(full);
    uz.begin(full);
    let address: ResourceDelta;
    let authorization: ResourceDelta;
    let output: LocalOutput;
    if (full || !previous) {
      output = generateLocal({ snapshot, mesh }).output;
      address = fullDelta(TYPE_ADDRESS, output.addresses, previous?.addresses.keys() ?? [], ua.values());
      authorization = fullDelta(
        TYPE_AUTHORIZATION,
        output.authorizations,
        previous?.authorizations.keys() ?? [],
        uz.values(),
      );
    } else {
      const d = generateLocal({ snapshot, mesh, previous, changes });
      output = d.output;
      address = {
        typeUrl: TYPE_ADDRESS,
        changed: pick(d.changedAddresses, output.addresses),
        removed: d.removedAddresses,
      };
      authorization = {
        typeUrl: TYPE_AUTHORIZATION,
        changed: pick(d.changedAuthorizations, output.authorizations),
        removed: d.removedAuthorizations,
      };
    }
    ua.record(address.removed);
    uz.record(authorization.removed);
    this.previous = output;
    return { output, address, authorization, deltas: [address, authorization] };
  }
}
