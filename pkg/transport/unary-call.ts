import * as grpc from '@grpc/grpc-js';
import { BaseCall, type CallEnv } from './calls';
import type { MessageLease } from './receive-pool';

type UnaryCallback = (err: { code?: number; details?: string; message?: string } | null, value?: unknown) => void;
type UnaryHandler = (call: UnaryCall, callback: UnaryCallback) => void;

/** A unary call in the grpc-js handler shape `(call, callback)`: `call.request` is the deserialised request. */
export class UnaryCall extends BaseCall {
  request: unknown;
  cancelled = false;
  private message: Buffer | undefined;
  private count = 0;

  constructor(
    env: CallEnv,
    private readonly method: {
      deserialize: (b: Buffer) => unknown;
      serialize: (v: unknown) => Buffer;
      handler: UnaryHandler;
    },
  ) {
    super(env);
    this.on('cancelled', () => (this.cancelled = true));
  }

  protected onMessage(msg: Buffer, lease: MessageLease): void {
    this.count++;
    this.message = Buffer.from(msg);
    lease.release(); // copied
  }

  protected onClientEnd(): void {
    if (this.isFinished) return;
    if (this.count !== 1 || !this.message) {
      this.finish(grpc.status.UNIMPLEMENTED, `unary call received ${this.count} request messages`);
      return;
    }
    try {
      this.request = this.method.deserialize(this.message);
    } catch {
      this.finish(grpc.status.INTERNAL, 'Error deserializing request');
      return;
    }
    try {
      this.method.handler(this, (err, value) => {
        if (err) {
          this.finish(err.code ?? grpc.status.UNKNOWN, err.details ?? err.message ?? 'unknown error');
          return;
        }
        let out: Buffer;
        try {
          out = this.method.serialize(value);
        } catch {
          this.finish(grpc.status.INTERNAL, 'Error serializing response');
          return;
        }
        this.write(out);
        this.finish(grpc.status.OK, 'OK');
      });
    } catch {
      this.finish(grpc.status.UNKNOWN, 'handler failed');
    }
  }
}
