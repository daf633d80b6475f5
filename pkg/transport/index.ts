export { RotatingServerCredentials, TLS13_CIPHERS } from './credentials';
export type { ServingMaterial } from './credentials';
export { GrpcServer, routeGrpcLogs } from './grpc-server';
export type { GrpcServerOptions, ServiceRegistration } from './grpc-server';
export { BidiCall, UnaryCall, metadataFromHeaders } from './calls';
export { MessageReader } from './reader';
export type { MessageReaderHandlers } from './reader';
export type { CallIdentity } from './calls';
