import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { findProtoDir } from '../wire';

export const CA_SERVICE_PATH = '/istio.v1.auth.IstioCertificateService/CreateCertificate';

const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
};

interface Loaded {
  definition: grpc.ServiceDefinition;
  client: grpc.ServiceClientConstructor;
}
const cache = new Map<string, Loaded>();

/**
 * Loads istio/v1/auth/citadel.proto once per proto dir (google/protobuf/struct.proto comes bundled with protobufjs).
 */
export function loadCaService(protoDir: string = findProtoDir()): Loaded {
  let l = cache.get(protoDir);
  if (!l) {
    const pkgDef = protoLoader.loadSync('istio/v1/auth/citadel.proto', { ...LOADER_OPTIONS, includeDirs: [protoDir] });
    const client = serviceAt(grpc.loadPackageDefinition(pkgDef), ['istio', 'v1', 'auth', 'IstioCertificateService']);
    l = { definition: client.service, client };
    cache.set(protoDir, l);
  }
  return l;
}

/** The service client constructor at `path` in a loaded package (namespaces are plain objects, a service a class). */
function serviceAt(root: grpc.GrpcObject, path: readonly string[]): grpc.ServiceClientConstructor {
  let node: grpc.GrpcObject[string] = root;
  for (const name of path) {
    const next: grpc.GrpcObject[string] | undefined = isNamespace(node) ? node[name] : undefined;
    if (!next) throw new Error(`${path.join('.')}: not in the loaded proto package`);
    node = next;
  }
  if (typeof node !== 'function') throw new Error(`${path.join('.')}: not a service`);
  return node;
}

/** A message or enum definition carries its descriptor as `format` + `type`; a namespace does not. */
function isNamespace(n: grpc.GrpcObject[string]): n is grpc.GrpcObject {
  return typeof n !== 'function' && !('format' in n && 'fileDescriptorProtos' in n);
}

/** A grpc-js client constructor for the CA service (e2e tests, benchmarks, renewal clients). */
export function caServiceClient(protoDir?: string): grpc.ServiceClientConstructor {
  return loadCaService(protoDir).client;
}

export interface CaRequest {
  csr: string;
  validity_duration: string | number;
  metadata?: { fields?: Record<string, { stringValue?: string; kind?: string }> } | null;
}

export interface CaResponse {
  cert_chain: string[];
}
