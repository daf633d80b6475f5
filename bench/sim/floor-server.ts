/**
 * The transport floor for the xds fan-out figure: a bare node:http2 TLS 1.3
 * server with the daemon's HTTP/2 settings and nothing else — no registry, no
 * cache, no subscriptions, no metrics. It answers each stream's first request
 * per type with an empty response (so the simulated ztunnels count as
 * connected), ignores ACKs, and on {cmd:'cast', uid} writes one pre-encoded
 * response naming `uid` to every stream in one loop. The simulated ztunnels
 * measure receipt exactly as they do against the daemon, so the figure is what
 * this machine's Node TLS + HTTP/2 stack costs for one message to N streams
 * while the clients share the cores: a lower bound for the daemon's fan-out.
 * {cmd:'replay', trace} is the churn scenario's floor: `trace` lists what one
 * daemon client received in a churn phase as [ms from the phase start, message
 * bytes]; the server writes a pre-encoded message of each size to every stream
 * at the same offsets, so it pushes the same number of messages of the same
 * sizes at the same rate to the same number of streams.
 * IPC: → {ev:'ready', port}; {cmd:'cast', uid} → {ev:'cast', cpuMs};
 *      {cmd:'replay', trace, windowMs} → {ev:'replayed', cpuMs, ms};
 *      {cmd:'cpu'} → {ev:'cpu', cpuMs}; {cmd:'close'} exits.
 */
import * as fs from 'node:fs';
import * as http2 from 'node:http2';
import { MessageReader, TLS13_CIPHERS } from '../../pkg/transport';
import { encodeDeltaResponse, encodeDeltaResponseBody, encodeResourceFrame, nonceField } from '../../pkg/wire';
import { TYPE_ADDRESS } from '../lib/h2-ztunnel';

const [keyFile, certFile, batchArg, stateArg] = process.argv.slice(2);
/**
 * Resources in the first client's full Address sync (names floor/<i>, version
 * v1): what later clients present as initial_resource_versions in a reconnect
 * storm, so the floor also shows what merely receiving those requests costs.
 */
const stateSize = Number(stateArg ?? 0);
/** Streams written per event-loop turn (0 = all in one loop); diagnosis knob, the figure uses 0. */
const batch = Number(batchArg ?? 0);
const cpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

function grpcMessage(msg: Buffer): Buffer {
  const f = Buffer.allocUnsafe(5 + msg.length);
  f[0] = 0;
  f.writeUInt32BE(msg.length, 1);
  msg.copy(f, 5);
  return f;
}

/** type_url (field 2) of a DeltaDiscoveryRequest, read without a schema. */
function requestType(b: Buffer): string {
  let p = 0;
  const varint = (): number => {
    let v = 0;
    let mul = 1;
    for (;;) {
      const c = b[p++]!;
      v += (c & 0x7f) * mul;
      if (c < 0x80) return v;
      mul *= 128;
    }
  };
  while (p < b.length) {
    const tag = varint();
    const wire = tag & 7;
    if (wire === 0) varint();
    else if (wire === 2) {
      const len = varint();
      if (tag >>> 3 === 2) return b.toString('utf8', p, p + len);
      p += len;
    } else if (wire === 1) p += 8;
    else p += 4;
  }
  return '';
}

function stateFrames(): Buffer[] {
  return Array.from({ length: stateSize }, (_, i) =>
    encodeResourceFrame(
      `floor/ns-${i % 50}/pod-${i}`,
      'v1',
      TYPE_ADDRESS,
      Buffer.from(`workload ${i}`.padEnd(200, '.')),
    ),
  );
}

const streams: { st: http2.ServerHttp2Stream; id: number; n: number }[] = [];
let nextId = 0;
const server = http2.createSecureServer({
  key: fs.readFileSync(keyFile!),
  cert: fs.readFileSync(certFile!),
  minVersion: 'TLSv1.3',
  ciphers: TLS13_CIPHERS,
  ALPNProtocols: ['h2'],
  allowHTTP1: false,
  maxSessionMemory: 512,
  settings: { maxConcurrentStreams: 100_000, enablePush: false },
});
server.on('stream', (st) => {
  const s = { st, id: ++nextId, n: 0 };
  st.on('error', () => undefined);
  st.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
  streams.push(s);
  const answered = new Set<string>();
  const reader = new MessageReader({
    check: () => true,
    message: (msg) => {
      const type = requestType(msg);
      if (!type || answered.has(type)) return; // an ACK
      answered.add(type);
      const full = stateSize > 0 && s.id === 1 && type === TYPE_ADDRESS;
      st.write(
        grpcMessage(
          encodeDeltaResponse({
            typeUrl: type,
            nonce: `${s.id}-${++s.n}`,
            systemVersionInfo: '1',
            frames: full ? stateFrames() : [],
            removed: [],
          }),
        ),
      );
    },
  });
  st.on('data', (chunk: Buffer) => reader.push(chunk));
});
server.on('sessionError', () => undefined);
server.listen(0, '127.0.0.1', () => process.send!({ ev: 'ready', port: (server.address() as { port: number }).port }));

/**
 * As the daemon writes a fan-out (XdsStream.sendShared): one buffer per stream — gRPC prefix, the shared body,
 * this stream's nonce field — and one write.
 */
function writeShared(s: (typeof streams)[number], body: Buffer): void {
  if (s.st.destroyed) return;
  const nonce = nonceField(`${s.id}-${++s.n}`);
  const msg = Buffer.allocUnsafe(5 + body.length + nonce.length);
  msg[0] = 0;
  msg.writeUInt32BE(body.length + nonce.length, 1);
  body.copy(msg, 5);
  nonce.copy(msg, 5 + body.length);
  s.st.write(msg);
}

/** A response body (no nonce) of one resource padded so that body + a typical nonce field is `bytes` long. */
function bodyOfSize(bytes: number, k: number): Buffer {
  const target = Math.max(0, bytes - nonceField(`${streams.length}-${k}`).length);
  let pad = target;
  let body: Buffer = Buffer.alloc(0);
  // The padding's own length varints move the total by a byte or two: converge in a few steps.
  for (let i = 0; i < 4; i++) {
    const name = `floor//Pod/ns/replay-${k}`;
    const frame = encodeResourceFrame(name, `v-${k}`, TYPE_ADDRESS, Buffer.alloc(Math.max(0, pad), 46));
    body = encodeDeltaResponseBody({
      typeUrl: TYPE_ADDRESS,
      systemVersionInfo: String(k),
      frames: [frame],
      removed: [],
    });
    if (body.length === target || pad <= 0) break;
    pad += target - body.length;
  }
  return body;
}

/**
 * Writes a pre-encoded message of each traced size to every stream at the traced offsets (all bodies are
 * encoded before the clock starts); reports this process's CPU over the window (at least `windowMs`, the
 * daemon's measured phase, so both CPU shares are over the same length) and its length.
 */
function replay(trace: [number, number][], windowMs: number): void {
  const bodies = trace.map(([, bytes], k) => bodyOfSize(bytes, k));
  const c0 = cpuMs();
  const t0 = performance.now();
  let k = 0;
  const step = (): void => {
    const now = performance.now() - t0;
    while (k < trace.length && trace[k]![0] <= now) {
      for (const s of streams) writeShared(s, bodies[k]!);
      k++;
    }
    if (k < trace.length) {
      setTimeout(step, Math.max(0, trace[k]![0] - (performance.now() - t0))); // the trace's pacing
      return;
    }
    const report = (): void => void process.send!({ ev: 'replayed', cpuMs: cpuMs() - c0, ms: performance.now() - t0 });
    setTimeout(report, Math.max(0, windowMs - (performance.now() - t0))); // the end of the measured window
  };
  step();
}

process.on('message', (m: { cmd: string; uid?: string; trace?: [number, number][]; windowMs?: number }) => {
  if (m.cmd === 'replay') replay(m.trace!, m.windowMs ?? 0);
  else if (m.cmd === 'cast') {
    const c0 = cpuMs();
    const frame = encodeResourceFrame(
      m.uid!,
      `v-${m.uid}`,
      TYPE_ADDRESS,
      Buffer.from(`workload ${m.uid}`.padEnd(300, '.')),
    );
    const body = encodeDeltaResponseBody({
      typeUrl: TYPE_ADDRESS,
      systemVersionInfo: '2',
      frames: [frame],
      removed: [],
    });
    const write = (s: (typeof streams)[number]): void => writeShared(s, body);
    if (batch <= 0) {
      for (const s of streams) write(s);
      setImmediate(() => process.send!({ ev: 'cast', cpuMs: cpuMs() - c0 }));
      return;
    }
    let i = 0;
    const step = (): void => {
      const end = Math.min(i + batch, streams.length);
      for (; i < end; i++) write(streams[i]!);
      setImmediate(i < streams.length ? step : () => process.send!({ ev: 'cast', cpuMs: cpuMs() - c0 }));
    };
    step();
  } else if (m.cmd === 'cpu') process.send!({ ev: 'cpu', cpuMs: cpuMs() });
  else if (m.cmd === 'close') {
    server.close();
    process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));
