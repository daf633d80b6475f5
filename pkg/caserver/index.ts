export { callContextOf, createCaService } from './service';
export type { CaService, CaServiceDeps } from './service';
export { CA_SERVICE_PATH, caServiceClient, loadCaService } from './proto';
export type { CaRequest, CaResponse } from './proto';
export type { CaMetrics } from './metrics';
export { registerCaService } from './register';
export type { CaServiceHost } from './register';
