import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { findProtoDir } from '../wire';

export const CA_SERVICE_PATH = '/istio.v1.auth.IstioCertificateService/CreateCertificate';

const LOADER_OPTIONS: protoLoader.Options = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };

interface Loaded {
  definition: grpc.ServiceDefinition;
  client: grpc.ServiceClientConstructor;
}
const cache = new Map<string, Loaded>();

/** Loads istio/v1/auth/citadel.proto once per proto dir (google/protobuf/struct.proto comes bundled with protobufjs). */
export function loadCaService(protoDir: string = findProtoDir()): Loaded {
  let l = cache.get(protoDir);
  if (!l) {
    const pkgDef = protoLoader.loadSync('istio/v1/auth/citadel.proto', { ...LOADER_OPTIONS, includeDirs: [protoDir] });
    const pkg = grpc.loadPackageDefinition(pkgDef) as unknown as { istio: { v1: { auth: { IstioCertificateService: grpc.ServiceClientConstructor } } } };
    const client = pkg.istio.v1.auth.IstioCertificateService;
    l = { definition: client.service, client };
    cache.set(protoDir, l);
  }
  return l;
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
