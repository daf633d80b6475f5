import jsyaml from 'js-yaml';

/**
 * Plain YAML through js-yaml, resolved exactly as the `yaml` library's YAML 1.2 core schema does (manifest.ts's
 * parser, which stays the reference and the fallback).
 *
 * Why: a one-pod manifest took the `yaml` library ~220 µs to parse, js-yaml ~12 µs (node 20, this repository's
 * churn pod; docs/design/push-budget.md). At 100 pod replacements per second that parse was the largest part of the
 * daemon's ingest. The `yaml` library keeps what js-yaml does not: an error per document, where js-yaml fails the
 * whole file, and its alias expansion limit.
 *
 * Equal output is shown by pkg/registry/yaml-fast.test.ts over the repository's manifests and a corpus of scalar and
 * structure forms. Where the two differ when both accept a file, the caller does not ask for this path
 * (manifest.ts checkYamlLimits: anchors, aliases, tags, directives, explicit `?` keys, null keys, collection keys;
 * plainWithinLimits decides the same from characters alone for most small files, or leaves it to the lexer).
 */

// The `yaml` library's core schema tests (yaml 2.9.1 dist/schema/common/null.js, core/bool.js, core/int.js,
// core/float.js), in its order: int before float, octal and hex besides decimal.
/** A plain scalar the core schema reads as null (also manifest.ts's rule for keys the two parsers name differently). */
export const CORE_NULL = /^(?:~|[Nn]ull|NULL)?$/;
const BOOL = /^(?:[Tt]rue|TRUE|[Ff]alse|FALSE)$/;
const INT_OCT = /^0o[0-7]+$/;
const INT = /^[-+]?[0-9]+$/;
const INT_HEX = /^0x[0-9a-fA-F]+$/;
const FLOAT_NAN = /^(?:[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)$/;
const FLOAT_EXP = /^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)[eE][-+]?[0-9]+$/;
const FLOAT = /^[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)$/;

/** A resolver that accepts a scalar any of `tests` matches; js-yaml hands it null for an empty node (`a:`). */
function matchesAny(...tests: RegExp[]): (d: string | null) => boolean {
  return (d) => {
    const s = d ?? '';
    for (const re of tests) if (re.test(s)) return true;
    return false;
  };
}

const CORE = jsyaml.FAILSAFE_SCHEMA.extend({
  implicit: [
    new jsyaml.Type('tag:yaml.org,2002:null', {
      kind: 'scalar',
      resolve: matchesAny(CORE_NULL),
      construct: () => null,
    }),
    new jsyaml.Type('tag:yaml.org,2002:bool', {
      kind: 'scalar',
      resolve: matchesAny(BOOL),
      construct: (d: string) => d[0] === 't' || d[0] === 'T',
    }),
    new jsyaml.Type('tag:yaml.org,2002:int', {
      kind: 'scalar',
      resolve: matchesAny(INT_OCT, INT, INT_HEX),
      construct: (d: string) =>
        INT_OCT.test(d)
          ? parseInt(d.substring(2), 8)
          : INT_HEX.test(d)
            ? parseInt(d.substring(2), 16)
            : parseInt(d, 10),
    }),
    new jsyaml.Type('tag:yaml.org,2002:float', {
      kind: 'scalar',
      resolve: matchesAny(FLOAT_NAN, FLOAT_EXP, FLOAT),
      construct: (d: string) =>
        FLOAT_NAN.test(d)
          ? d.slice(-3).toLowerCase() === 'nan'
            ? NaN
            : d[0] === '-'
              ? Number.NEGATIVE_INFINITY
              : Number.POSITIVE_INFINITY
          : parseFloat(d),
    }),
  ],
});

/**
 * The documents of a plain YAML file, or undefined when js-yaml refuses it (any syntax or duplicate-key error, or
 * a nesting too deep for its recursion): the caller then parses it with the `yaml` library, which reports the
 * error per document.
 */
export function loadPlainYaml(text: string): unknown[] | undefined {
  try {
    return jsyaml.loadAll(text, undefined, { schema: CORE });
  } catch {
    return undefined;
  }
}
