/**
 * One generated file per message for gen-encoders.ts: the message's
 * interface (protobufjs object form) and w_<message>(m, b, at), which writes
 * its fields backwards so they end at b[at] and returns where they start.
 * Fields go last to first (and repeated elements and map entries last to
 * first), so the bytes read forwards in field-number order, as protoc and
 * protobufjs write them.
 */
import protobuf from 'protobufjs';

const VARINT = new Set(['uint32', 'int32', 'bool']);

export const ident = (t: protobuf.Type): string => t.fullName.replace(/^\./, '').replace(/\./g, '_');

/** kebab-case file name (no extension): istio.workload.GatewayAddress → istio-workload-gateway-address. */
export const fileOf = (t: protobuf.Type): string =>
  t.fullName
    .replace(/^\./, '')
    .replace(/([a-z0-9])([A-Z])/g, '$1-$2')
    .replace(/\./g, '-')
    .toLowerCase();

/** An import of a message's interface and write function, wrapped when longer than a line may be. */
export function importLine(t: protobuf.Type, touch = false): string {
  const id = ident(t);
  const names = [...(touch ? [`p_${id}`] : []), `r_${id}`, `w_${id}`, `type ${id}`];
  const line = `import { ${names.join(', ')} } from './${fileOf(t)}';`;
  return line.length <= 120 ? line : `import {\n${names.map((x) => `  ${x},\n`).join('')}} from './${fileOf(t)}';`;
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

const sorted = (t: protobuf.Type): protobuf.Field[] => [...t.fieldsArray].sort((a, b) => a.id - b.id);

/** Message types t's fields refer to, each once, in field order. */
export function messageDeps(t: protobuf.Type): protobuf.Type[] {
  const out: protobuf.Type[] = [];
  for (const f of sorted(t)) {
    const rt = f.resolvedType;
    if (rt instanceof protobuf.Type && !out.includes(rt)) out.push(rt);
  }
  return out;
}

const tsType = (f: protobuf.Field, k: Kind): string =>
  k === 'string'
    ? 'string'
    : k === 'bytes'
      ? 'Uint8Array'
      : k === 'message'
        ? ident(f.resolvedType as protobuf.Type)
        : f.type === 'bool'
          ? 'boolean'
          : 'number';

/** Tag bytes of field id with a wire type, as backward stores (last byte first). */
function putTag(id: number, wireType: number, ind: string): string[] {
  let n = id * 8 + wireType;
  const bytes: number[] = [];
  while (n >= 0x80) {
    bytes.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  bytes.push(n);
  return bytes.reverse().map((x) => `${ind}b[--at] = ${x};`);
}

/** The value of a bool/number for varint writing. */
const num = (f: protobuf.Field, v: string): string => (f.type === 'bool' ? `(${v} ? 1 : 0)` : v);

/** A nested message's bytes then its length prefix (the caller adds the tag). */
const nested = (mt: string, v: string, ind: string, extra = ''): string[] => [
  `${ind}const e = at;`,
  `${ind}at = w_${mt}(${v}, b, at${extra});`,
  `${ind}at = putVarintBack(b, at, e - at);`,
];

/**
 * Which string fields may hold the resource name (their start offsets go to the caller's NameMarks, so the cache
 * entry can leave those copies out without searching the frame), and which messages lead to one (they pass the
 * NameMarks on).
 */
export interface NameFieldPlan {
  readonly fields: ReadonlySet<string>;
  readonly carriers: ReadonlySet<string>;
}

export const NO_NAME_FIELDS: NameFieldPlan = { fields: new Set(), carriers: new Set() };

const full = (x: { fullName: string }): string => x.fullName.replace(/^\./, '');

/** The nested write call's extra argument: the NameMarks, for messages that lead to a name field. */
const marksArg = (f: protobuf.Field, plan: NameFieldPlan): string =>
  f.resolvedType instanceof protobuf.Type && plan.carriers.has(full(f.resolvedType)) ? ', nm' : '';

const indent = (lines: string[], ind: string): string[] => lines.map((l) => ind + l);

/**
 * A repeated or map field's writes behind its FrozenFieldCache (`c<id>`, pkg/wire/frozen-field-cache.ts): a
 * deep-frozen value written before is copied as its bytes; otherwise `loop` writes it and its bytes are kept when it
 * is deep-frozen. Not for fields that lead to a name field: their copies of the name must be marked where written.
 */
function cached(f: protobuf.Field, v: string, loop: string[]): string[] {
  return [
    `    const c = c${f.id}.get(${v});`,
    '    if (c !== undefined) at = putRawBack(b, at, c);',
    '    else {',
    '      const end = at;',
    ...indent(loop, '      '),
    `      c${f.id}.keep(${v}, b, at, end);`,
    '    }',
  ];
}

/** Backward writes of one field (read once into a local `f<id>`). */
function emitField(f: protobuf.Field, plan: NameFieldPlan): string[] {
  const k = kindOf(f);
  const v = `f${f.id}`;
  // Each field is read once into a local: message objects come in several shapes, so every read is a
  // polymorphic (or megamorphic) property lookup, and an absent field's lookup walks the prototype chain.
  const out = [`  const ${v} = m.${f.name};`];
  if (f instanceof protobuf.MapField) {
    const vt = ident(f.resolvedType as protobuf.Type);
    const loop = [
      `const ks = Object.keys(${v});`,
      'for (let i = ks.length - 1; i >= 0; i--) {',
      '  const k = ks[i]!;',
      '  const s = at;',
      ...nested(vt, `${v}[k] ?? EMPTY`, '  ', marksArg(f, plan)),
      '  b[--at] = 18;',
      '  at = putStringBack(b, at, k);',
      '  b[--at] = 10;',
      '  at = putVarintBack(b, at, s - at);',
      ...putTag(f.id, 2, '  '),
      '}',
    ];
    out.push(`  if (${v} != null) {`, ...(marksArg(f, plan) ? indent(loop, '    ') : cached(f, v, loop)), '  }');
    return out;
  }
  if (f.repeated) {
    out.push(`  if (${v} != null && ${v}.length > 0) {`);
    if (k === 'varint' || k === 'enum') {
      // packed
      out.push(
        '    const e = at;',
        `    for (let i = ${v}.length - 1; i >= 0; i--) at = putVarintBack(b, at, ${num(f, `${v}[i]!`)});`,
        '    at = putVarintBack(b, at, e - at);',
        ...putTag(f.id, 2, '    '),
        '  }',
      );
      return out;
    }
    if (k === 'string') {
      const loop = [`for (let i = ${v}.length - 1; i >= 0; i--) {`, `  at = putStringBack(b, at, ${v}[i]!);`];
      out.push(...cached(f, v, [...loop, ...putTag(f.id, 2, '  '), '}']), '  }');
      return out;
    }
    out.push(`    for (let i = ${v}.length - 1; i >= 0; i--) {`);
    if (k === 'bytes') out.push(`      at = putBytesBack(b, at, ${v}[i]!);`);
    else out.push(...nested(ident(f.resolvedType as protobuf.Type), `${v}[i] ?? EMPTY`, '      ', marksArg(f, plan)));
    out.push(...putTag(f.id, 2, '      '), '    }', '  }');
    return out;
  }
  if (k === 'message') {
    out.push(
      `  if (${v} != null) {`,
      ...nested(ident(f.resolvedType as protobuf.Type), v, '    ', marksArg(f, plan)),
      ...putTag(f.id, 2, '    '),
      '  }',
    );
    return out;
  }
  const explicit = f.partOf !== null && f.partOf !== undefined; // oneof member or proto3 `optional`
  const set = explicit
    ? `${v} != null`
    : k === 'string'
      ? `${v} != null && ${v} !== ''`
      : k === 'bytes'
        ? `${v} != null && ${v}.length > 0`
        : f.type === 'bool'
          ? `${v} === true`
          : `${v} != null && ${v} !== 0`;
  out.push(`  if (${set}) {`);
  if (k === 'string' && plan.fields.has(full(f))) {
    out.push(
      `    const s = at;`,
      `    at = putUtf8Back(b, at, ${v});`,
      `    if (nm !== undefined && ${v} === nm.name) nm.mark(at);`,
      '    at = putVarintBack(b, at, s - at);',
      ...putTag(f.id, 2, '    '),
    );
  } else if (k === 'string') out.push(`    at = putStringBack(b, at, ${v});`, ...putTag(f.id, 2, '    '));
  else if (k === 'bytes') out.push(`    at = putBytesBack(b, at, ${v});`, ...putTag(f.id, 2, '    '));
  else out.push(`    at = putVarintBack(b, at, ${num(f, v)});`, ...putTag(f.id, 0, '    '));
  out.push('  }');
  return out;
}

/**
 * Reads of one field for p_<message>, the touch a batch gets before it is encoded (pkg/push Encoder): only the
 * path to the name fields (messages that lead to one) and the leaf objects a resource does not share with others
 * (its name strings, byte arrays, map keys), so a batch's touches are short and their cache misses overlap.
 */
function touchField(f: protobuf.Field, plan: NameFieldPlan): string[] {
  const k = kindOf(f);
  const v = `f${f.id}`;
  const load = `  const ${v} = m.${f.name};`;
  if (f instanceof protobuf.MapField) return [load, `  if (${v} != null) for (const k in ${v}) x += k.length;`];
  if (k === 'bytes' && f.repeated) {
    return [
      load,
      `  if (${v} != null) for (let i = 0; i < ${v}.length; i++) if (${v}[i]!.length > 0) x += ${v}[i]![0]!;`,
    ];
  }
  if (k === 'bytes') return [load, `  if (${v} != null && ${v}.length > 0) x += ${v}[0]!;`];
  if (k === 'string' && !f.repeated && plan.fields.has(full(f))) return [load, `  if (${v} != null) x += ${v}.length;`];
  if (k === 'message' && !f.repeated && plan.carriers.has(full(f.resolvedType as protobuf.Type))) {
    return [load, `  if (${v} != null) x += p_${ident(f.resolvedType as protobuf.Type)}(${v});`];
  }
  return [];
}

/**
 * Reads of one field for r_<message>: every value loaded, nested messages, repeated elements and map entries
 * followed, a string's length (its header) and a byte array's first byte read; nothing written.
 */
function readField(f: protobuf.Field): string[] {
  const k = kindOf(f);
  const v = `f${f.id}`;
  const out = [`  const ${v} = m.${f.name};`];
  const el = (y: string, ind: string): string =>
    k === 'message'
      ? `${ind}if (${y} != null) x += r_${ident(f.resolvedType as protobuf.Type)}(${y});`
      : k === 'string'
        ? `${ind}x += ${y}.length;`
        : k === 'bytes'
          ? `${ind}if (${y}.length > 0) x += ${y}[0]!;`
          : `${ind}if (${y}) x++;`;
  if (f instanceof protobuf.MapField) {
    out.push(`  if (${v} != null) {`, `    for (const k in ${v}) {`, '      x += k.length;');
    out.push(`      const y = ${v}[k];`, el('y', '      '), '    }', '  }');
  } else if (f.repeated) {
    out.push(`  if (${v} != null) {`, `    for (let i = 0; i < ${v}.length; i++) {`);
    out.push(`      const y = ${v}[i]!;`, el('y', '      '), '    }', '  }');
  } else if (k === 'message') out.push(el(v, '  '));
  else if (k === 'string') out.push(`  if (${v} != null) x += ${v}.length;`);
  else if (k === 'bytes') out.push(`  if (${v} != null && ${v}.length > 0) x += ${v}[0]!;`);
  else out.push(el(v, '  '));
  return out;
}

/** The whole file for message t. */
export function emitMessage(
  t: protobuf.Type,
  header: string,
  plan: NameFieldPlan = NO_NAME_FIELDS,
  root = false,
): string {
  const id = ident(t);
  const fields = sorted(t);
  const body: string[] = [];
  for (let i = fields.length - 1; i >= 0; i--) body.push(...emitField(fields[i]!, plan));
  const read: string[] = [];
  for (const f of fields) read.push(...readField(f));
  const touch: string[] = [];
  for (const f of fields) touch.push(...touchField(f, plan));
  const text = body.join('\n');
  const helpers = ['putBytesBack', 'putRawBack', 'putStringBack', 'putUtf8Back', 'putVarintBack'].filter((h) =>
    text.includes(`${h}(`),
  );
  const carrier = plan.carriers.has(full(t));
  if (carrier) helpers.push('type NameMarks');
  const out = [header, '/* eslint-disable */'];
  if (helpers.length > 0) out.push(`import { ${helpers.join(', ')} } from '../pb-writer';`);
  for (const d of messageDeps(t)) {
    if (d !== t) out.push(importLine(d, plan.carriers.has(full(d))));
  }
  const caches = fields.filter((f) => text.includes(`c${f.id}.get(`));
  if (caches.length > 0) {
    out.push("import { FrozenFieldCache } from '../frozen-field-cache';");
  }
  if (text.includes('EMPTY'))
    out.push(
      '',
      '/** A map value or repeated element that is null: an empty message. */',
      'const EMPTY = Object.freeze({});',
    );
  if (caches.length > 0) {
    out.push('', '/** Bytes of deep-frozen values of its repeated and map fields (FrozenFieldCache). */');
    for (const f of caches) out.push(`const c${f.id} = new FrozenFieldCache();`);
  }
  out.push('', `export interface ${id} {`);
  for (const f of fields) {
    const el = tsType(f, kindOf(f));
    if (f instanceof protobuf.MapField) {
      if (f.keyType !== 'string' || kindOf(f) !== 'message') {
        throw new Error(`${f.fullName}: map<${f.keyType}, ${f.type}> is not supported by the generator`);
      }
      out.push(`  ${f.name}?: Readonly<Record<string, ${el}>> | null;`);
    } else out.push(`  ${f.name}?: ${f.repeated ? `readonly ${el}[]` : el} | null;`);
  }
  const used = body.length > 0;
  out.push(
    '}',
    '',
    `/** Writes m's fields so they end at b[at]; returns where they start (${t.fullName.slice(1)}). */`,
    ...(carrier
      ? ['// Where it writes nm.name into a name field (gen-encoders.ts NAME_FIELDS), it marks the offset in nm.']
      : []),
    `export function w_${id}(`,
    `  ${used ? 'm' : '_m'}: ${id}, ${used ? 'b' : '_b'}: Buffer, at: number,${carrier ? ' nm?: NameMarks,' : ''}`,
    '): number {',
    ...body,
    '  return at;',
    '}',
    '',
    `/** Reads every field of m without writing (loads its object graph); returns a checksum of what it read. */`,
    `export function r_${id}(${used ? 'm' : '_m'}: ${id}): number {`,
    ...(used ? ['  let x = 0;', ...read, '  return x;'] : ['  return 0;']),
    '}',
    '',
  );
  if (root || carrier) {
    out.push(
      "/** Touches m's objects before it is encoded (emit-message.ts touchField); returns a checksum. */",
      `export function p_${id}(${touch.length ? 'm' : '_m'}: ${id}): number {`,
      ...(touch.length ? ['  let x = 0;', ...touch, '  return x;'] : ['  return 0;']),
      '}',
      '',
    );
  }
  return out.join('\n');
}
