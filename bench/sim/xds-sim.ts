/**
 * Simulated ztunnels in their own process (so the daemon is measured alone).
 * Driven over IPC by a scenario runner:
 *   {cmd:'connect', n, withState, stuck?, countFailed?} → {ev:'connected', n, ms, resources, failed}
 *     (countFailed: streams the server ends before both first responses are counted in failed, not awaited)
 *   {cmd:'closeStuck'}                       → closes every stuck client: {ev:'stuckClosed', n}
 *   {cmd:'closeLast', n}                     → closes the n most recently connected clients: {ev:'lastClosed', n}
 *   {cmd:'expect', uid}                      → {ev:'expecting'}; then per client receipt of uid:
 *                                              {ev:'got', uid, times[]} once all have it
 *   {cmd:'record'}                           → {ev:'recording'}; from now on the first live client's responses
 *                                              are recorded as [ms since record, bytes] (the churn floor replays them)
 *   {cmd:'report'}                           → {ev:'report', lat[], clients, trace[]}: tracked latencies and the
 *                                              recorded trace since the last report (both cleared)
 *   {cmd:'close'}                            → exits
 * Times are wall-clock ms with sub-ms precision (performance.timeOrigin + now),
 * comparable across processes.
 */
import { SimZtunnel, TYPE_ADDRESS, TYPE_AUTHORIZATION } from '../lib/h2-ztunnel';
import { encodeRequest, grpcFrame } from '../lib/pb';

interface Init {
  address: string;
  rootCaPem: string;
  token: string;
}
const wall = (t: number): number => performance.timeOrigin + t;

let init: Init | undefined;
const clients: SimZtunnel[] = [];
let held: Map<string, string> | undefined; // Address name -> version from the first full sync
let heldAuthz: Map<string, string> | undefined;
/** The client whose responses define `held`. */
let holder: number | undefined;

function track(
  m: Map<string, string> | undefined,
  r: { names: string[]; versions: string[]; removed: string[] },
): Map<string, string> {
  const out = m ?? new Map<string, string>();
  r.names.forEach((nm, j) => out.set(nm, r.versions[j]!));
  for (const nm of r.removed) out.delete(nm);
  return out;
}
let expectUid: string | undefined;
let gotTimes: number[] = [];
let gotClients = new Set<number>();
const stuckIds = new Set<number>();
/** uid -> wall-clock ms the change was made (churn tracking); every receipt is a latency sample. */
const tracked = new Map<string, number>();
let trackedLat: number[] = [];
/** {cmd:'record'}: the recorded client's id, the start (performance.now()) and its responses as [ms, bytes]. */
let recording: { id: number; t0: number; trace: [number, number][] } | undefined;

function send(m: object): void {
  process.send!(m);
}

function onResponse(c: SimZtunnel, r: { typeUrl: string; names: string[]; bytes: number }, at: number): void {
  if (recording?.id === c.id) recording.trace.push([at - recording.t0, r.bytes]);
  if (tracked.size && r.typeUrl === TYPE_ADDRESS) {
    for (const n of r.names) {
      const t0 = tracked.get(n);
      if (t0 !== undefined) trackedLat.push(wall(at) - t0);
    }
  }
  if (expectUid && r.typeUrl === TYPE_ADDRESS && r.names.includes(expectUid) && !gotClients.has(c.id)) {
    gotClients.add(c.id);
    gotTimes.push(wall(at));
    const live = clients.filter((x) => !stuckIds.has(x.id) && !x.closed).length;
    if (gotClients.size >= live) {
      send({ ev: 'got', uid: expectUid, times: gotTimes });
      expectUid = undefined;
    }
  }
}

async function connect(n: number, withState: boolean, stuck: boolean, countFailed: boolean): Promise<void> {
  const t0 = performance.now();
  let initial: Map<string, Buffer> | undefined;
  if (withState && held) {
    // One encoded reconnect request shared by all clients (they hold the same state).
    initial = new Map([
      [
        TYPE_ADDRESS,
        grpcFrame(
          encodeRequest({
            typeUrl: TYPE_ADDRESS,
            nodeId: 'ztunnel~10.0.0.1~zt.istio-system~istio-system.svc.cluster.local',
            namespace: 'istio-system',
            irv: held,
          }),
        ),
      ],
      [
        TYPE_AUTHORIZATION,
        grpcFrame(
          encodeRequest({
            typeUrl: TYPE_AUTHORIZATION,
            nodeId: 'ztunnel~10.0.0.1~zt.istio-system~istio-system.svc.cluster.local',
            namespace: 'istio-system',
            irv: heldAuthz ?? [],
          }),
        ),
      ],
    ]);
  }
  const batch: SimZtunnel[] = [];
  const wantFull = !withState && !held;
  for (let i = 0; i < n; i++) {
    const c = new SimZtunnel({
      ...init!,
      initial,
      stuck,
      wantNames: true,
      onResponse: (cl, r, at) => {
        if (wantFull && holder === undefined) holder = cl.id;
        // The first full-sync client keeps what it holds current, as a ztunnel does, so a
        // later storm presents the state as of the storm, not as of the first sync.
        if (cl.id === holder) {
          if (r.typeUrl === TYPE_ADDRESS) held = track(held, r);
          if (r.typeUrl === TYPE_AUTHORIZATION) heldAuthz = track(heldAuthz, r);
        }
        onResponse(cl, r, at);
      },
    });
    if (stuck) stuckIds.add(c.id);
    batch.push(c);
    clients.push(c);
    c.start();
  }
  if (stuck) {
    send({ ev: 'connected', n, ms: performance.now() - t0, resources: 0 });
    return;
  }
  const synced = (c: SimZtunnel): boolean => c.firstAt.has(TYPE_ADDRESS) && c.firstAt.has(TYPE_AUTHORIZATION);
  await new Promise<void>((resolve) => {
    // countFailed: a stream the server ended before both first responses is reported as failed, not waited for.
    const check = setInterval(() => {
      if (batch.every((c) => synced(c) || (countFailed && c.closed))) {
        clearInterval(check);
        resolve();
      }
    }, 1);
  });
  const ok = batch.filter(synced);
  const at = (c: SimZtunnel): number => Math.max(c.firstAt.get(TYPE_ADDRESS)!, c.firstAt.get(TYPE_AUTHORIZATION)!);
  const last = ok.length ? Math.max(...ok.map(at)) : NaN;
  const resources = batch.reduce((a, c) => a + c.resources, 0);
  send({ ev: 'connected', n, ms: last - t0, resources, failed: batch.length - ok.length });
}

process.on(
  'message',
  (m: {
    cmd: string;
    n?: number;
    withState?: boolean;
    stuck?: boolean;
    countFailed?: boolean;
    uid?: string;
    init?: Init;
  }) => {
    if (m.cmd === 'init') init = m.init;
    else if (m.cmd === 'connect') void connect(m.n!, m.withState ?? false, m.stuck ?? false, m.countFailed ?? false);
    else if (m.cmd === 'expect') {
      expectUid = m.uid;
      gotTimes = [];
      gotClients = new Set();
      // The runner makes the change only after this: on a loaded machine the daemon's push could
      // otherwise reach our sockets before this IPC message, and that receipt would be missed.
      send({ ev: 'expecting', uid: m.uid });
    } else if (m.cmd === 'track') {
      const mm = m as unknown as { uid: string; t0: number };
      tracked.set(mm.uid, mm.t0);
      if (tracked.size > 100_000) tracked.delete(tracked.keys().next().value!);
    } else if (m.cmd === 'record') {
      const c = clients.find((x) => !x.closed && !stuckIds.has(x.id));
      recording = c && { id: c.id, t0: performance.now(), trace: [] };
      send({ ev: 'recording', id: c?.id });
    } else if (m.cmd === 'report') {
      const trace = recording?.trace ?? [];
      send({ ev: 'report', lat: trackedLat, clients: clients.filter((c) => !c.closed).length, trace });
      trackedLat = [];
      tracked.clear();
      recording = undefined;
    } else if (m.cmd === 'closeStuck') {
      const stuck = clients.filter((c) => stuckIds.has(c.id) && !c.closed);
      for (const c of stuck) c.close();
      send({ ev: 'stuckClosed', n: stuck.length });
    } else if (m.cmd === 'closeLast') {
      const last = clients.filter((c) => !c.closed).slice(-m.n!);
      for (const c of last) {
        c.close();
        c.closed = true; // at once: the 'got' count must not wait for a client that is going away
      }
      send({ ev: 'lastClosed', n: last.length });
    } else if (m.cmd === 'close') {
      for (const c of clients) c.close();
      process.exit(0);
    }
  },
);
send({ ev: 'ready' });
