import type protobuf from 'protobufjs';
import { loadWire, type Wire } from '../../wire';
import {
  MSG,
  PEERING_PROTO,
  TYPE_CLUSTER_INFO,
  TYPE_FEDERATED_SERVICE,
  TYPE_PEER_NODE,
  TYPE_PEER_WORKLOAD,
} from '../core';

/** Message types of our type URLs, from the daemon's wire if it loaded peering.proto, else loaded alongside it. */
export function peeringTypes(wire: Wire): Map<string, protobuf.Type> {
  let w = wire;
  try {
    wire.type(MSG.FederatedService);
  } catch {
    w = loadWire({ protoDir: wire.protoDir, extraFiles: [PEERING_PROTO] });
  }
  return new Map([
    [TYPE_CLUSTER_INFO, w.type(MSG.ClusterInfo)],
    [TYPE_FEDERATED_SERVICE, w.type(MSG.FederatedService)],
    [TYPE_PEER_WORKLOAD, w.type(MSG.PeerWorkload)],
    [TYPE_PEER_NODE, w.type(MSG.PeerNode)],
  ]);
}
