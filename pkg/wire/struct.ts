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

/**
 * Which member of the Value oneof is set is read from own properties: a
 * message decoded by protobufjs has every field's default on its prototype
 * (stringValue "" included), so `typeof o.stringValue === 'string'` would
 * turn a number or a list into "" — and a numeric NAMESPACE into an empty,
 * skipped one.
 */
function valueToPlain(v: unknown): unknown {
  if (!v || typeof v !== 'object') return undefined;
  const o = v as Record<string, unknown>;
  const has = (k: string): boolean => Object.prototype.hasOwnProperty.call(o, k) && o[k] !== undefined && o[k] !== null;
  if (has('stringValue') && typeof o.stringValue === 'string') return o.stringValue;
  if (has('numberValue') && typeof o.numberValue === 'number') return o.numberValue;
  if (has('boolValue') && typeof o.boolValue === 'boolean') return o.boolValue;
  if (has('structValue')) return structToPlain(o.structValue);
  if (has('listValue')) {
    const vals = (o.listValue as { values?: unknown[] }).values ?? [];
    return vals.map(valueToPlain);
  }
  if (Object.prototype.hasOwnProperty.call(o, 'nullValue')) return null;
  return undefined;
}
