/**
 * Generates pkg/wire/pb-generated.ts: one size function and one write
 * function per message reachable from the given roots, specialised from the
 * .proto files as protobufjs loads them (pkg/wire/schema.ts). Run after a
 * .proto change: `node dist/tools/protogen/gen-encoders.js` (the test in
 * gen-encoders.test.ts fails while the checked-in file is stale).
 *
 * Encoding rules (https://protobuf.dev/programming-guides/encoding/, the
 * proto3 field presence doc): fields in field-number order (what protoc and
 * protobufjs emit); implicit-presence scalars omitted at their default;
 * oneof members, proto3 `optional` fields and message fields written when
 * set (even to a default); repeated numeric scalars packed; map entries as
 * {key=1, value=2} messages with both fields always written.
 *
 * Sizes first: the size pass records every nested message's and string's
 * byte length on a stack (S) in traversal order, and the write pass reads
 * them back in the same order, so each length is computed once.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import protobuf from 'protobufjs';
// The schema loader only, not pkg/wire's front door: that loads the generated file this tool (re)writes.
import { loadWire, type Wire } from '../../pkg/wire/schema';

const VARINT = new Set(['uint32', 'int32', 'bool']);
const ROOTS = ['istio.workload.Address', 'istio.security.Authorization'];

const ident = (t: protobuf.Type): string => t.fullName.replace(/^\./, '').replace(/\./g, '_');

function tagBytes(id: number, wireType: number): number[] {
  let n = id * 8 + wireType;
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return out;
}

/** Kind of a (non-map) field's element. */
type Kind = 'string' | 'bytes' | 'varint' | 'enum' | 'message';
function kindOf(f: protobuf.Field): Kind {
  if (f.resolvedType && 'fields' in f.resolvedType) return 'message';
  if (f.resolvedType) return 'enum';
  if (f.type === 'string' || f.type === 'bytes') return f.type;
  if (VARINT.has(f.type)) return 'varint';
  throw new Error(`${f.fullName}: field type ${f.type} is not supported by the generator`);
}

const tsType = (f: protobuf.Field, k: Kind): string =>
  k === 'string' ? 'string' : k === 'bytes' ? 'Uint8Array' : k === 'message' ? ident(f.resolvedType as protobuf.Type)
    : f.type === 'bool' ? 'boolean' : 'number';

/** The value of a bool/number for varint writing. */
const num = (f: protobuf.Field, v: string): string => (f.type === 'bool' ? `(${v} ? 1 : 0)` : v);

function emitType(t: protobuf.Type, out: string[]): void {
  const id = ident(t);
  const fields = [...t.fieldsArray].sort((a, b) => a.id - b.id);
  out.push(`export interface ${id} {`);
  for (const f of fields) {
    if (f instanceof protobuf.MapField) {
      if (f.keyType !== 'string' || kindOf(f) !== 'message') {
        throw new Error(`${f.fullName}: map<${f.keyType}, ${f.type}> is not supported by the generator`);
      }
      out.push(`  ${f.name}?: Readonly<Record<string, ${tsType(f, kindOf(f))}>> | null;`);
    } else {
      const el = tsType(f, kindOf(f));
      out.push(`  ${f.name}?: ${f.repeated ? `readonly ${el}[]` : el} | null;`);
    }
  }
  out.push('}', '');
  const sz: string[] = [];
  const wr: string[] = [];
  const tag = (f: protobuf.Field, wt: number): number[] => tagBytes(f.id, wt);
  const putTag = (bytes: number[], ind: string): string => bytes.map((x) => `${ind}b[at++] = ${x};`).join('\n');
  for (const f of fields) {
    const k = kindOf(f);
    // Each field is read once into a local: message objects come in several shapes, so every read is a
    // polymorphic (or megamorphic) property lookup, and an absent field's lookup walks the prototype chain.
    const v = `f${f.id}`;
    sz.push(`  const ${v} = m.${f.name};`);
    wr.push(`  const ${v} = m.${f.name};`);
    if (f instanceof protobuf.MapField) {
      const vt = ident(f.resolvedType as protobuf.Type);
      const tb = tag(f, 2);
      sz.push(`  if (f${f.id} != null) {`, `    const ks = Object.keys(f${f.id});`,
        '    for (let i = 0; i < ks.length; i++) {',
        '      const e = sn++;', '      const kl = (S[sn++] = utf8Size(ks[i]!));', '      const vi = sn++;',
        `      const vl = (S[vi] = s_${vt}(f${f.id}[ks[i]!] ?? EMPTY));`,
        '      const el = (S[e] = 2 + varintSize(kl) + kl + varintSize(vl) + vl);',
        `      n += ${tb.length} + varintSize(el) + el;`, '    }', '  }');
      wr.push(`  if (f${f.id} != null) {`, `    const ks = Object.keys(f${f.id});`,
        '    for (let i = 0; i < ks.length; i++) {', putTag(tb, '      '), '      at = putVarint(b, at, S[si++]!);',
        '      const kl = S[si++]!;', '      b[at++] = 10;',
        '      at = putString(b, putVarint(b, at, kl), ks[i]!, kl);',
        '      b[at++] = 18;', '      at = putVarint(b, at, S[si++]!);',
        `      at = w_${vt}(f${f.id}[ks[i]!] ?? EMPTY, b, at);`,
        '    }', '  }');
      continue;
    }
    const explicit = f.partOf !== null && f.partOf !== undefined; // oneof member or proto3 `optional`
    if (f.repeated) {
      const packed = k === 'varint' || k === 'enum';
      sz.push(`  if (f${f.id} != null && f${f.id}.length > 0) {`);
      wr.push(`  if (f${f.id} != null && f${f.id}.length > 0) {`);
      if (packed) {
        const tb = tag(f, 2);
        sz.push('    let p = 0;',
          `    for (let i = 0; i < f${f.id}.length; i++) p += varintSize(${num(f, `f${f.id}[i]!`)});`,
          '    S[sn++] = p;', `    n += ${tb.length} + varintSize(p) + p;`, '  }');
        wr.push(putTag(tb, '    '), '    at = putVarint(b, at, S[si++]!);',
          `    for (let i = 0; i < f${f.id}.length; i++) at = putVarint(b, at, ${num(f, `f${f.id}[i]!`)});`, '  }');
        continue;
      }
      const tb = tag(f, 2);
      sz.push(`    for (let i = 0; i < f${f.id}.length; i++) {`);
      wr.push(`    for (let i = 0; i < f${f.id}.length; i++) {`, putTag(tb, '      '));
      if (k === 'string') {
        sz.push(`      const l = (S[sn++] = utf8Size(f${f.id}[i]!));`);
        wr.push('      const l = S[si++]!;', `      at = putString(b, putVarint(b, at, l), f${f.id}[i]!, l);`);
      } else if (k === 'bytes') {
        sz.push(`      const l = f${f.id}[i]!.length;`);
        wr.push(`      at = putBytes(b, putVarint(b, at, f${f.id}[i]!.length), f${f.id}[i]!);`);
      } else {
        const mt = ident(f.resolvedType as protobuf.Type);
        sz.push('      const e = sn++;', `      const l = (S[e] = s_${mt}(f${f.id}[i] ?? EMPTY));`);
        wr.push(`      at = w_${mt}(f${f.id}[i] ?? EMPTY, b, putVarint(b, at, S[si++]!));`);
      }
      sz.push(`      n += ${tb.length} + varintSize(l) + l;`, '    }', '  }');
      wr.push('    }', '  }');
      continue;
    }
    if (k === 'message') {
      const mt = ident(f.resolvedType as protobuf.Type);
      const tb = tag(f, 2);
      sz.push(`  if (${v} != null) {`, '    const e = sn++;', `    const l = (S[e] = s_${mt}(${v}));`,
        `    n += ${tb.length} + varintSize(l) + l;`, '  }');
      wr.push(`  if (${v} != null) {`, putTag(tb, '    '),
        `    at = w_${mt}(${v}, b, putVarint(b, at, S[si++]!));`, '  }');
      continue;
    }
    const set = explicit ? `${v} != null`
      : k === 'string' ? `${v} != null && ${v} !== ''`
        : k === 'bytes' ? `${v} != null && ${v}.length > 0`
          : f.type === 'bool' ? `${v} === true` : `${v} != null && ${v} !== 0`;
    if (k === 'string') {
      const tb = tag(f, 2);
      sz.push(`  if (${set}) {`, `    const l = (S[sn++] = utf8Size(${v}));`,
        `    n += ${tb.length} + varintSize(l) + l;`, '  }');
      wr.push(`  if (${set}) {`, putTag(tb, '    '), '    const l = S[si++]!;',
        `    at = putString(b, putVarint(b, at, l), ${v}, l);`, '  }');
    } else if (k === 'bytes') {
      const tb = tag(f, 2);
      sz.push(`  if (${set}) n += ${tb.length} + varintSize(${v}.length) + ${v}.length;`);
      wr.push(`  if (${set}) {`, putTag(tb, '    '),
        `    at = putBytes(b, putVarint(b, at, ${v}.length), ${v});`, '  }');
    } else {
      const tb = tag(f, 0);
      sz.push(`  if (${set}) n += ${tb.length} + varintSize(${num(f, v)});`);
      wr.push(`  if (${set}) {`, putTag(tb, '    '), `    at = putVarint(b, at, ${num(f, v)});`, '  }');
    }
  }
  const used = sz.length > 0;
  const body = used ? ['  let n = 0;', ...sz, '  return n;'] : ['  return 0;'];
  out.push(`function s_${id}(${used ? 'm' : '_m'}: ${id}): number {`, ...body, '}', '');
  const params = `${used ? 'm' : '_m'}: ${id}, ${used ? 'b' : '_b'}: Buffer, at: number`;
  out.push(`function w_${id}(${params}): number {`, ...wr, '  return at;', '}', '');
}

/** Messages reachable from the roots, each once, in a stable order. */
function reachable(wire: Wire, roots: readonly string[]): protobuf.Type[] {
  const seen = new Map<string, protobuf.Type>();
  const visit = (t: protobuf.Type): void => {
    if (seen.has(t.fullName)) return;
    seen.set(t.fullName, t);
    for (const f of [...t.fieldsArray].sort((a, b) => a.id - b.id)) {
      if (f.resolvedType && 'fields' in f.resolvedType) visit(f.resolvedType);
    }
  };
  for (const r of roots) visit(wire.type(r));
  return [...seen.values()];
}

export function generateEncoders(wire: Wire, roots: readonly string[] = ROOTS): string {
  const out: string[] = [
    '// Code generated by tools/protogen/gen-encoders.ts from proto/ (protobufjs reflection). DO NOT EDIT.',
    `// Roots: ${roots.join(', ')}. Regenerate: node dist/tools/protogen/gen-encoders.js`,
    '/* eslint-disable */',
    "import { putBytes, putString, putVarint, utf8Size, varintSize } from './pb-writer';",
    '',
    '/**',
    ' * Lengths recorded by the size pass, read back in the same order by the write pass. A typed array',
    ' * (a plain array filled out of order turns holey); a store past its end is dropped, so a size pass',
    ' * that ran past it is repeated with a larger one.',
    ' */',
    'let S = new Int32Array(4096);',
    'let sn = 0;',
    'let si = 0;',
    'const EMPTY = Object.freeze({});',
    '',
  ];
  for (const t of reachable(wire, roots)) emitType(t, out);
  out.push('/** Sizes then writes one root message; `size` must be called right before its `write`. */');
  out.push('export interface MessageCodec<T> {', '  size(m: T): number;',
    '  write(m: T, b: Buffer, at: number): number;', '}', '');
  out.push('/** Codecs by fully-qualified message name. */');
  out.push('export const CODECS = {');
  for (const r of roots) {
    const t = wire.type(r);
    out.push(`  '${r}': {`, `    size: (m: ${ident(t)}): number => {`, '      for (;;) {', '        sn = 0;',
      `        const n = s_${ident(t)}(m);`, '        if (sn <= S.length) return n;',
      '        S = new Int32Array(2 * sn);', '      }',
      '    },');
    out.push(`    write: (m: ${ident(t)}, b: Buffer, at: number): number => {`, '      si = 0;',
      `      return w_${ident(t)}(m, b, at);`, '    },');
    out.push(`  } as MessageCodec<${ident(t)}>,`);
  }
  out.push('};', '');
  return out.join('\n');
}

export const GENERATED_PATH = 'pkg/wire/pb-generated.ts';

if (require.main === module) {
  const wire = loadWire();
  const target = path.join(path.dirname(wire.protoDir), GENERATED_PATH);
  fs.writeFileSync(target, generateEncoders(wire));
  process.stdout.write(`wrote ${target}\n`);
}
