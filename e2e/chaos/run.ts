#!/usr/bin/env node
import { runChaos, FAULT_KINDS } from './chaos';

/**
 * `make chaos` (CYCLES=n): three peered daemons under churn and faults, then a
 * ground-truth check. Options: --cycles N (default 1000), --seed S (default:
 * random, printed), --settle-every K (default 100), --fault-rate P, --keep.
 * Exit 0 only when there are no mismatches.
 */
async function main(argv: string[]): Promise<number> {
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) continue;
    const [k, v] = a.includes('=')
      ? (a.slice(2).split('=', 2) as [string, string])
      : [a.slice(2), argv[i + 1]?.startsWith('--') === false ? argv[++i]! : 'true'];
    flags.set(k, v);
  }
  const cycles = Number(flags.get('cycles') ?? 1000);
  const seed = flags.has('seed') ? Number(flags.get('seed')) : Math.floor(Math.random() * 2 ** 31);
  if (!Number.isInteger(cycles) || cycles < 1 || !Number.isInteger(seed)) {
    process.stderr.write('usage: run.js [--cycles N] [--seed S] [--settle-every K] [--fault-rate P] [--keep]\n');
    return 2;
  }
  process.stdout.write(`chaos: seed ${seed} (reproduce with --seed ${seed} --cycles ${cycles})\n`);
  const r = await runChaos({
    cycles,
    seed,
    settleEvery: Number(flags.get('settle-every') ?? 100),
    faultRate: flags.has('fault-rate') ? Number(flags.get('fault-rate')) : undefined,
    keepDir: flags.has('keep'),
    log: (l) => process.stdout.write(`${l}\n`),
  });
  process.stdout.write(
    `chaos: churn steps by kind: ${Object.entries(r.churn)
      .map(([k, v]) => `${k}=${v}`)
      .join(', ')}\n`,
  );
  process.stdout.write(`chaos: faults by kind: ${FAULT_KINDS.map((k) => `${k}=${r.faults[k]}`).join(', ')}\n`);
  process.stdout.write(
    `chaos: ${r.settles} settles checked against the ground truth; ` +
      `${r.stateFilesChecked} state files loaded; ${r.leftoverTempFiles.length} leftover temp files\n`,
  );
  if (flags.has('keep')) process.stdout.write(`chaos: work dir kept at ${r.dir}\n`);
  process.stdout.write(`chaos: ${r.cycles} cycles, ${r.totalFaults} faults, ${r.mismatches} mismatches\n`);
  return r.mismatches === 0 ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`chaos: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  },
);
