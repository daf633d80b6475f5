/**
 * Just enough protobuf to be a cheap simulated ztunnel: read the fields of a
 * DeltaDiscoveryResponse we need (type_url=4, nonce=5, resources=2 → name=3,
 * version=1; removed_resources=6) without decoding resource bodies, and write
 * DeltaDiscoveryRequests. Keeps thousands of simulated clients from starving
 * the daemon on a 2-core machine.
 */
export interface LiteResponse {
  typeUrl: string;
  nonce: string;
  names: string[];
  versions: string[];
  removed: string[];
  bytes: number;
}

export function varint(buf: Buffer, pos: { p: number }): number {
  let v = 0;
  let shift = 0;
  for (;;) {
    const b = buf[pos.p++]!;
    v += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) return v;
    shift += 7;
  }
}

export function skip(buf: Buffer, wire: number, pos: { p: number }): void {
  if (wire === 0) varint(buf, pos);
  else if (wire === 2) pos.p += varint(buf, pos);
  else if (wire === 1) pos.p += 8;
  else if (wire === 5) pos.p += 4;
  else throw new Error(`wire type ${wire}`);
}

export function parseResponse(buf: Buffer, wantNames = true): LiteResponse {
  const out: LiteResponse = { typeUrl: '', nonce: '', names: [], versions: [], removed: [], bytes: buf.length };
  const pos = { p: 0 };
  while (pos.p < buf.length) {
    const tag = varint(buf, pos);
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (wire !== 2) {
      skip(buf, wire, pos);
      continue;
    }
    const len = varint(buf, pos);
    const start = pos.p;
    const end = start + len;
    if (field === 4) out.typeUrl = buf.toString('utf8', start, end);
    else if (field === 5) out.nonce = buf.toString('utf8', start, end);
    else if (field === 6) out.removed.push(buf.toString('utf8', start, end));
    else if (field === 2 && wantNames) {
      const rp = { p: start };
      let name = '';
      let version = '';
      while (rp.p < end) {
        const t = varint(buf, rp);
        const f = Math.floor(t / 8);
        if ((t & 7) !== 2) {
          skip(buf, t & 7, rp);
          continue;
        }
        const l = varint(buf, rp);
        if (f === 3) name = buf.toString('utf8', rp.p, rp.p + l);
        else if (f === 1) version = buf.toString('utf8', rp.p, rp.p + l);
        rp.p += l;
      }
      out.names.push(name);
      out.versions.push(version);
    } else if (field === 2) {
      out.names.push('');
    }
    pos.p = end;
  }
  return out;
}

export function writeVarint(parts: number[], v: number): void {
  while (v >= 0x80) {
    parts.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  parts.push(v);
}

function field(tag: number, body: Buffer): Buffer {
  const head: number[] = [];
  writeVarint(head, tag);
  writeVarint(head, body.length);
  return Buffer.concat([Buffer.from(head), body]);
}

const s = (x: string): Buffer => Buffer.from(x, 'utf8');

/**
 * DeltaDiscoveryRequest: node(1){id=1, metadata(3) NAMESPACE}, type_url(2), subscribe(3), irv(5), nonce(6),
 * error_detail(7).
 */
export function encodeRequest(r: {
  typeUrl: string;
  nodeId?: string;
  namespace?: string;
  nonce?: string;
  subscribe?: string[];
  unsubscribe?: string[];
  irv?: Iterable<[string, string]>;
  nack?: string;
}): Buffer {
  const parts: Buffer[] = [];
  if (r.nodeId) {
    const md = r.namespace
      ? field(0x1a, field(0x0a, Buffer.concat([field(0x0a, s('NAMESPACE')), field(0x12, field(0x1a, s(r.namespace)))])))
      : Buffer.alloc(0);
    parts.push(field(0x0a, Buffer.concat([field(0x0a, s(r.nodeId)), md])));
  }
  parts.push(field(0x12, s(r.typeUrl)));
  for (const n of r.subscribe ?? []) parts.push(field(0x1a, s(n)));
  for (const n of r.unsubscribe ?? []) parts.push(field(0x22, s(n)));
  for (const [k, v] of r.irv ?? []) parts.push(field(0x2a, Buffer.concat([field(0x0a, s(k)), field(0x12, s(v))])));
  if (r.nonce) parts.push(field(0x32, s(r.nonce)));
  if (r.nack) parts.push(field(0x3a, field(0x12, s(r.nack))));
  return Buffer.concat(parts);
}

/** gRPC length-prefixed message framing. */
export function grpcFrame(msg: Buffer): Buffer {
  const h = Buffer.alloc(5);
  h.writeUInt32BE(msg.length, 1);
  return Buffer.concat([h, msg]);
}
