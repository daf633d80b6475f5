import type { ErrorCode } from './codes';

/**
 * gRPC status codes, restated so modules that never touch grpc-js can still
 * say which status an error maps to (values from grpc's status.proto).
 */
export const GrpcCode = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;
export type GrpcCodeValue = (typeof GrpcCode)[keyof typeof GrpcCode];

/**
 * An error with a stable code, a gRPC status and (optionally) a message safe to
 * show the caller. Authentication/authorization failures set `publicMessage` to
 * something opaque while `message` keeps the full reason for the log.
 */
export class DaemonError extends Error {
  readonly code: ErrorCode;
  readonly grpcCode: GrpcCodeValue;
  readonly publicMessage: string;

  constructor(code: ErrorCode, grpcCode: GrpcCodeValue, message: string, publicMessage?: string) {
    super(message);
    this.name = 'DaemonError';
    this.code = code;
    this.grpcCode = grpcCode;
    this.publicMessage = publicMessage ?? message;
  }
}

export function isDaemonError(e: unknown): e is DaemonError {
  return e instanceof DaemonError;
}
