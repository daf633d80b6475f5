import { createCaService, type CaService, type CaServiceDeps } from './service';

/** A server the CA service can be added to (the daemon's GrpcServer is one). */
export interface CaServiceHost {
  addService(service: CaService): void;
}

/**
 * Serves istio.v1.auth.IstioCertificateService (CreateCertificate) on `server`:
 * the same port ztunnel reaches for xDS, as istiod serves both on 15012.
 */
export function registerCaService(server: CaServiceHost, deps: CaServiceDeps): void {
  server.addService(createCaService(deps));
}
