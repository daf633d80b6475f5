import type { KeyObject } from 'node:crypto';
import type { ErrorCode, GrpcCodeValue } from '../errors';
import type { CsrProof } from '../x509';

/** What a signing thread starts with: the CA key (a KeyObject crosses threads by structured clone). */
export interface SigningWorkerData {
  key: KeyObject;
}

/** One certificate to sign once its request's proof checks out. */
export interface SigningJob {
  proof: CsrProof;
  tbs: Uint8Array;
}

export interface SigningBatch {
  id: number;
  jobs: SigningJob[];
}

/** Per job, in order: the signature, a refusal from the proof check (catalogue code), or an unexpected failure. */
export type SigningOutcome =
  | { signature: Uint8Array }
  | { refused: { code: ErrorCode; grpcCode: GrpcCodeValue; message: string } }
  | { failed: string };

export interface SigningReply {
  id: number;
  outcomes: SigningOutcome[];
}
