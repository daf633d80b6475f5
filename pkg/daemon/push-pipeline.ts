import { Encoder, PushBuilder } from '../push';
import type { ChangeSet, RegistrySnapshot } from '../registry';
import { LocalGenerator, type LocalGeneration, type LocalInput, type MeshContext } from '../translate';
import type { PeeringLayer } from '../peering';

export interface PushPipelineOptions {
  encoder: Encoder;
  peering?: PeeringLayer;
  snapshot: () => RegistrySnapshot;
  mesh: () => MeshContext;
  /** Registry changes since the previous build (taken: the next call returns only newer ones). */
  takeChanges: () => ChangeSet;
}

/**
 * The daemon's push generators composed: local translation, then the peering layer over its output when
 * peering is on. Every output depends on the mesh context, so a change of it asks for a full build.
 */
export function pushPipeline(o: PushPipelineOptions): PushBuilder<LocalInput, LocalGeneration> {
  const local = new LocalGenerator();
  const { peering } = o;
  return new PushBuilder<LocalInput, LocalGeneration>({
    encoder: o.encoder,
    input: () => ({ snapshot: o.snapshot(), changes: o.takeChanges(), mesh: o.mesh() }),
    contextKey: (i) => JSON.stringify(i.mesh),
    local: (i, full) => local.generate(i, full),
    merge: peering && ((i, l, full) => peering.build({ snapshot: i.snapshot, mesh: i.mesh, local: l, full })),
  });
}
