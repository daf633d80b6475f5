import * as fs from 'node:fs';
import * as path from 'node:path';
import protobuf from 'protobufjs';

export const TYPE_PREFIX = 'type.googleapis.com/';
/** ztunnel's two type URLs (src/xds/types.rs). */
export const TYPE_ADDRESS = 'type.googleapis.com/istio.workload.Address';
export const TYPE_AUTHORIZATION = 'type.googleapis.com/istio.security.Authorization';

const PROTO_FILES = [
  'istio/workload/workload.proto',
  'istio/security/authorization.proto',
  'istio/v1/auth/citadel.proto',
  'envoy/service/discovery/v3/discovery.proto',
];

/** The loaded schema. Immutable after loadWire(); share one per process. */
export interface Wire {
  readonly root: protobuf.Root;
  readonly protoDir: string;
  readonly Address: protobuf.Type;
  readonly Authorization: protobuf.Type;
  readonly DeltaDiscoveryRequest: protobuf.Type;
  readonly DeltaDiscoveryResponse: protobuf.Type;
  readonly Resource: protobuf.Type;
  /** Looks up any message type by its fully-qualified name (peering types, etc.). */
  type(fullName: string): protobuf.Type;
}

/** Walks up from `start` to the folder holding package.json and returns its proto/ dir. */
export function findProtoDir(start: string = __dirname): string {
  let dir = start;
  for (;;) {
    const candidate = path.join(dir, 'proto');
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(candidate)) return candidate;
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`proto directory not found above ${start}`);
    dir = up;
  }
}

/**
 * Loads our .proto files with protobufjs. google/protobuf/* come from
 * protobufjs's bundled well-known types; everything else resolves under
 * protoDir, like protoc's -I.
 */
export function loadWire(opts: { protoDir?: string; extraFiles?: readonly string[] } = {}): Wire {
  const protoDir = opts.protoDir ?? findProtoDir();
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => {
    if (target.startsWith('google/protobuf/')) return target; // bundled by protobufjs ("common")
    return path.isAbsolute(target) ? target : path.join(protoDir, target);
  };
  root.loadSync([...PROTO_FILES, ...(opts.extraFiles ?? [])], { keepCase: false });
  root.resolveAll();
  const type = (n: string): protobuf.Type => root.lookupType(n);
  return Object.freeze({
    root,
    protoDir,
    Address: type('istio.workload.Address'),
    Authorization: type('istio.security.Authorization'),
    DeltaDiscoveryRequest: type('envoy.service.discovery.v3.DeltaDiscoveryRequest'),
    DeltaDiscoveryResponse: type('envoy.service.discovery.v3.DeltaDiscoveryResponse'),
    Resource: type('envoy.service.discovery.v3.Resource'),
    type,
  });
}
