// What every CA bench server does around its own set-up: run until the scenario stops it (SIGTERM, SIGINT, or
// its stdin closing when the parent is gone), clean up, exit; a failed start-up exits 1 with the stack.

/** Runs `cleanup` and exits 0 on SIGTERM, SIGINT or the end of stdin. */
export function serveUntilStopped(cleanup: () => void): void {
  const stop = (): void => {
    cleanup();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.stdin.on('end', stop); // parent gone
  process.stdin.resume();
}

/** Runs a server's async main; a failure is reported on stderr under `name` and exits 1. */
export function runServer(name: string, main: () => Promise<void>): void {
  main().catch((e: unknown) => {
    process.stderr.write(`${name}: ${e instanceof Error ? e.stack : String(e)}\n`);
    process.exit(1);
  });
}
