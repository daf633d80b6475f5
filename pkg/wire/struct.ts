/**
 * Converts a decoded google.protobuf.Struct (protobufjs object form:
 * {fields: {k: {stringValue|numberValue|boolValue|structValue|listValue|nullValue}}})
 * into a plain JS object. Unknown shapes become undefined rather than throwing.
 */
export function structToPlain(s: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const fields = (s as { fields?: Record<string, unknown> } | null | undefined)?.fields;
  if (!fields) return out;
  for (const [k, v] of Object.entries(fields)) out[k] = valueToPlain(v);
  return out;
}

function valueToPlain(v: unknown): unknown {
  if (!v || typeof v !== 'object') return undefined;
  const o = v as Record<string, unknown>;
  if (typeof o.stringValue === 'string') return o.stringValue;
  if (typeof o.numberValue === 'number') return o.numberValue;
  if (typeof o.boolValue === 'boolean') return o.boolValue;
  if (o.structValue) return structToPlain(o.structValue);
  if (o.listValue) {
    const vals = (o.listValue as { values?: unknown[] }).values ?? [];
    return vals.map(valueToPlain);
  }
  if ('nullValue' in o) return null;
  return undefined;
}
