import { parentPort } from 'node:worker_threads';
import { parseManifest } from './manifest';
import type { ParseRequest, ParseReply } from './parser-host';

/**
 * Entry point of the parser worker thread (started by ParserHost): parses one
 * file per message. Everything a hostile file can cost — CPU, heap (capped by
 * the worker's resourceLimits), stack — is spent here, so the daemon's event
 * loop keeps serving xDS, CA and health, and a file that exhausts the heap
 * ends this thread only.
 */
parentPort?.on('message', (req: ParseRequest) => {
  let reply: ParseReply;
  try {
    reply = { id: req.id, ok: true, parsed: parseManifest(req.text, req.name, req.limits) };
  } catch (e) {
    // A stack overflow on a pathological nesting, or a library bug: the file is rejected alone.
    reply = { id: req.id, ok: false, reason: `parser failed: ${(e as Error).message}` };
  }
  parentPort!.postMessage(reply);
});

// Modules are loaded: the host starts a file's time budget only from here.
parentPort?.postMessage({ ready: true });
