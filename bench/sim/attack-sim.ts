/**
 * Sustained attacks on the daemon's gRPC TLS port (issue 18), in their own
 * process so neither the daemon nor the simulated ztunnels share its CPU.
 * Driven over IPC by bench/scenarios/attack.ts:
 *   {cmd:'init', init:{address, token}}      (no reply)
 *   {cmd:'start', attack}                     → {ev:'started', attack}
 *   {cmd:'stop'}                              → {ev:'stopped', attack, stats}
 * Each attack keeps its pressure up: whatever the daemon closes is reopened
 * every 250 ms. Attackers connect from their own 127.0.1.x address.
 */
import * as http2 from 'node:http2';
import { rawH2, grpcPrefix, type RawH2 } from '../../e2e/harness/h2-raw';
import { TLS13_CIPHERS } from '../../pkg/transport';
import { TYPE_ADDRESS } from '../lib/h2-ztunnel';
import { encodeRequest, grpcFrame } from '../lib/pb';
import { namesFloodRequest, type AttackName } from '../lib/attacks';

interface Init {
  address: string;
  token: string;
}
let init: Init | undefined;
let running: { name: AttackName; stop: () => Record<string, number> } | undefined;
const PATH = '/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources';

const port = (): number => Number(init!.address.split(':').pop());
const auth = (): Record<string, string> => ({ authorization: `Bearer ${init!.token}`, clusterid: 'Kubernetes' });

/** Keeps `n` raw connections from `src` open, each set up by `prime`; reopens closed ones (and tops up via `tick`). */
function pool(
  n: number,
  src: string,
  prime: (c: RawH2) => void,
  preface = true,
  tick?: (c: RawH2) => void,
): () => Record<string, number> {
  const conns = new Set<RawH2>();
  const stats = { opened: 0, refused: 0 };
  let pending = 0;
  let stopped = false;
  const fill = (): void => {
    for (const c of conns) if (c.closed) conns.delete(c);
    for (const c of conns) tick?.(c);
    while (!stopped && conns.size + pending < n) {
      pending++;
      rawH2({ port: port(), localAddress: src, preface }).then(
        (c) => {
          pending--;
          stats.opened++;
          if (stopped) return void c.destroy();
          conns.add(c);
          prime(c);
        },
        () => {
          pending--;
          stats.refused++;
        },
      );
    }
  };
  fill();
  const timer = setInterval(fill, 250);
  return () => {
    stopped = true;
    clearInterval(timer);
    for (const c of conns) c.destroy();
    return stats;
  };
}

/** One authenticated stream on node:http2 (flow control respected) writing `next()` messages as fast as accepted. */
function flood(src: string, first: Buffer, next: (i: number) => Buffer): () => Record<string, number> {
  const stats = { streams: 0, messages: 0 };
  let stopped = false;
  let session: http2.ClientHttp2Session | undefined;
  const open = (): void => {
    if (stopped) return;
    session = http2.connect(`https://${init!.address}`, {
      rejectUnauthorized: false,
      servername: 'istiod.istio-system.svc',
      minVersion: 'TLSv1.3',
      ciphers: TLS13_CIPHERS,
      localAddress: src,
    } as http2.SecureClientSessionOptions);
    session.on('error', () => undefined);
    const headers = { ':method': 'POST', ':path': PATH, 'content-type': 'application/grpc', te: 'trailers', ...auth() };
    const s = session.request(headers);
    stats.streams++;
    s.on('error', () => undefined);
    s.on('data', () => undefined); // read and drop responses
    let i = 0;
    const pump = (): void => {
      for (;;) {
        if (stopped || s.destroyed) return;
        stats.messages++;
        if (!s.write(next(i++))) return;
      }
    };
    s.write(first);
    s.on('drain', pump);
    s.on('close', () => {
      session?.destroy();
      setTimeout(open, 250);
    });
    pump();
  };
  open();
  return () => {
    stopped = true;
    session?.destroy();
    return stats;
  };
}

/** 350,000 9-character names per message (3.85 MB, under the 4 MiB receive limit). */
function names(from: number): Buffer {
  return grpcFrame(namesFloodRequest(from, 350_000));
}

function start(name: AttackName): () => Record<string, number> {
  const firstRequest = grpcFrame(encodeRequest({ typeUrl: TYPE_ADDRESS }));
  switch (name) {
    case 'budget_pinning': {
      // 16 callers declare 4 MiB and send 1 KiB (half with a token); a reset one comes back.
      const declared = Buffer.concat([grpcPrefix(4 << 20), Buffer.alloc(1024, 7)]);
      let k = 0;
      return pool(16, '127.0.1.1', (c) => void c.stream(declared, k++ % 2 ? auth() : {}));
    }
    case 'header_flood': {
      // 16 connections, each kept at 100 authenticated header-only streams (the default cap).
      const live = new Map<RawH2, number>();
      const top = (c: RawH2): void => {
        const resets = [...c.resets.values()].reduce((a, b) => a + b, 0);
        const want = 100 - ((live.get(c) ?? 0) - resets);
        if (want > 0) {
          c.headerOnly(want, auth());
          live.set(c, (live.get(c) ?? 0) + want);
        }
      };
      return pool(16, '127.0.1.2', top, true, top);
    }
    case 'preface_less':
      return pool(100, '127.0.1.3', () => undefined, false);
    case 'idle_sessions':
      return pool(100, '127.0.1.4', () => undefined);
    case 'per_source_flood':
      // Twice the default per-source limit from one address: 128 are admitted (and held idle), the rest are
      // closed on accept and retried every 250 ms.
      return pool(256, '127.0.1.5', () => undefined);
    case 'names_flood':
      return flood('127.0.1.6', firstRequest, (i) => names(i * 350_000));
    case 'nack_flood': {
      const nack = grpcFrame(encodeRequest({ typeUrl: TYPE_ADDRESS, nonce: 'x', nack: 'x'.repeat(4096) }));
      return flood('127.0.1.7', firstRequest, () => nack);
    }
  }
}

process.on('message', (m: { cmd: string; attack?: AttackName; init?: Init }) => {
  if (m.cmd === 'init') init = m.init;
  else if (m.cmd === 'start') {
    running = { name: m.attack!, stop: start(m.attack!) };
    process.send!({ ev: 'started', attack: m.attack });
  } else if (m.cmd === 'stop') {
    const stats = running?.stop() ?? {};
    process.send!({ ev: 'stopped', attack: running?.name, stats });
    running = undefined;
  } else if (m.cmd === 'close') {
    running?.stop();
    process.exit(0);
  }
});
process.send!({ ev: 'ready' });
