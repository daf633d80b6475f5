// The body of one CA signing thread (SigningPool starts it with new Worker(this file)). It holds the CA key,
// receives batches of jobs, and for each checks the request's proof (pkg/x509 checkCsrProof: key import and
// signature check) and only then signs the TBSCertificate. Nothing here touches the network or the registry.
import { parentPort, workerData } from 'node:worker_threads';
import { isDaemonError } from '../errors';
import { checkCsrProof, createSigner } from '../x509';
import type { SigningBatch, SigningOutcome, SigningWorkerData } from './signing-protocol';

const port = parentPort;
const data = workerData as SigningWorkerData;
const signer = createSigner(data.key);

async function run(batch: SigningBatch): Promise<SigningOutcome[]> {
  const out: SigningOutcome[] = [];
  for (const job of batch.jobs) {
    try {
      await checkCsrProof(job.proof);
      out.push({ signature: signer.sign(job.tbs) });
    } catch (e) {
      out.push(
        isDaemonError(e)
          ? { refused: { code: e.code, grpcCode: e.grpcCode, message: e.message } }
          : { failed: e instanceof Error ? e.message : String(e) },
      );
    }
  }
  return out;
}

// Jobs run one batch at a time, in order: the pool counts outstanding jobs per thread to pick the least loaded.
let chain = Promise.resolve();
port?.on('message', (batch: SigningBatch) => {
  chain = chain.then(async () => port.postMessage({ id: batch.id, outcomes: await run(batch) }));
});
