import { Lexer, parseAllDocuments } from 'yaml';
import type { RawObject } from './normalize';
import { isObj } from './validate';
import { CORE_NULL, loadPlainYaml } from './yaml-fast';

/**
 * Pure manifest parsing (runs inside the parser worker, see parse-worker.ts):
 * multi-document YAML, JSON and `kubectl get -o yaml` List output, under
 * limits that bound what one file may cost before the YAML library builds
 * anything (its CST costs ~200 MB and ~4 s per MB of a flat list, measured
 * with yaml 2.9.1 on Node 20).
 */
export interface ParsedFile {
  objects: { obj: RawObject; origin: string }[];
  errors: { origin: string; reason: string }[];
}

export interface ParseLimits {
  /**
   * Scalars + collections + aliases in a YAML file (JSON: 10x as many, see
   * JSON_NODE_FACTOR). The YAML library needs ~1 KiB of heap per node of a
   * flat list (1 MB, 262k nodes: ~250 MiB in the worker, measured), so the
   * default keeps a worst-case file inside the default worker heap cap.
   */
  maxNodes: number;
  /** Alias references (`*x`) in the whole file. */
  maxAliases: number;
  /** Nesting depth (flow brackets + block indicators + indentation columns; an upper bound of the real depth). */
  maxDepth: number;
}

export const DEFAULT_PARSE_LIMITS: ParseLimits = { maxNodes: 250_000, maxAliases: 100, maxDepth: 256 };

/** JSON.parse needs about a tenth of the YAML library's memory per node, so JSON files may have 10x as many. */
export const JSON_NODE_FACTOR = 10;

/** Raised for a file over a limit: the whole file is rejected with this reason. */
export class LimitError extends Error {}

/**
 * One pass of the YAML lexer (no tree is built: ~1 µs and no memory per
 * token) that stops at the first limit crossed. Block depth is estimated from
 * the line's indentation plus the block indicators (`-`, `?`, `:`) on it, which
 * is never below the real depth, so a legitimate manifest (depth ~15,
 * indentation ~40) is far from the default.
 *
 * Returns whether the file is plain: none of the constructs on which js-yaml
 * (yaml-fast.ts) and the `yaml` library, both accepting a file, build different
 * values: anchors, aliases, tags, directives, explicit `?` keys, keys that are
 * empty or null, and keys that are collections (yaml-fast.test.ts).
 */
export function checkYamlLimits(text: string, limits: ParseLimits): boolean {
  let nodes = 0;
  let aliases = 0;
  let flow = 0;
  let indent = 0;
  let lineIndicators = 0;
  let atLineStart = true;
  let scalarSource = false;
  let plain = true;
  // What a `:` would close: 1 = an empty or null key (a key position, or a null-like plain scalar), 2 = a collection.
  let keyEnd = 1;
  for (const tok of new Lexer().lex(text)) {
    // The lexer emits a plain or block scalar as "\x1f" followed by its source text.
    if (scalarSource) {
      scalarSource = false;
      keyEnd = CORE_NULL.test(tok) ? 1 : 0; // a null key: the two parsers name it differently
      continue;
    }
    const c = tok.charCodeAt(0);
    if (tok === '\n' || tok === '\r\n') {
      atLineStart = true;
      indent = 0;
      lineIndicators = 0;
      keyEnd = 1;
      continue;
    }
    if (c === 0x20 /* space */) {
      if (atLineStart) indent = tok.length;
      continue;
    }
    atLineStart = false;
    let next = 0;
    if (tok === '[' || tok === '{') {
      flow++;
      nodes++;
      next = 1;
    } else if (tok === ']' || tok === '}') {
      flow = Math.max(0, flow - 1);
      next = 2;
    } else if (tok === ',') {
      next = 1;
    } else if (tok === '-' || tok === '?' || tok === ':') {
      lineIndicators++;
      if (tok === '?' || (tok === ':' && keyEnd !== 0)) plain = false;
      next = tok === '-' ? 1 : 0;
    } else if (c === 0x2a /* * */) {
      if (++aliases > limits.maxAliases) throw new LimitError(`more than ${limits.maxAliases} aliases`);
      nodes++;
      plain = false;
    } else if (c === 0x26 /* & */ || c === 0x21 /* ! */ || c === 0x25 /* % */) {
      plain = false; // anchor, tag, directive
    } else if (c === 0x1f /* scalar */) {
      scalarSource = true;
      nodes++;
    } else if (c === 0x22 || c === 0x27 /* quoted scalar */) {
      nodes++;
    } else if (c === 0x23 /* # comment */) {
      next = keyEnd;
    }
    keyEnd = next;
    if (nodes > limits.maxNodes) throw new LimitError(`more than ${limits.maxNodes} YAML nodes`);
    if (flow + indent + lineIndicators > limits.maxDepth) throw new LimitError(`nested deeper than ${limits.maxDepth}`);
  }
  return plain;
}

/** Characters after which a `:` closes an empty key, or (`]`, `}`) a collection key. */
const EMPTY_KEY_BEFORE = new Set([-1, 0x0a, 0x0d, 0x7b, 0x5b, 0x2c, 0x2d]); // start, \n, \r, {, [, ",", -
/**
 * Characters that end a plain word going backwards from a `:` (a quoted scalar may end right before one):
 * space, tab, \n, \r, { [ ] } , " '.
 */
const WORD_START = new Set([0x20, 0x09, 0x0a, 0x0d, 0x7b, 0x5b, 0x5d, 0x7d, 0x2c, 0x22, 0x27]);

/**
 * Whether checkYamlLimits would pass `text` and call it plain, decided from characters alone (~1 µs for a one-object
 * file, against ~40 µs for the lexer, and ~140 µs inside a daemon under churn: docs/design/push-budget.md). It
 * answers false whenever it cannot tell, and the caller runs the lexer; true only from upper bounds of what the lexer
 * counts:
 * - nodes: at most one per character;
 * - aliases: none without a `*`;
 * - depth: the lexer's flow + indentation + indicators on the line is at most every `[`/`{` in the file, plus the
 *   deepest leading whitespace of any line, plus every `-`, `?` and `:` in the file;
 * - plain: no `&`, `*`, `!`, `%` or `?` anywhere; and before each `:` (the lexer's indicators are among them) neither
 *   an empty key, a `]` or `}`, nor a word the core schema reads as null.
 * yaml-fast.test.ts checks the implication over the corpus and random text.
 */
export function plainWithinLimits(text: string, limits: ParseLimits): boolean {
  if (text.length > limits.maxNodes) return false;
  let opens = 0;
  let indicators = 0;
  let indent = 0;
  let maxIndent = 0;
  let lineStart = true;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x0a) {
      lineStart = true;
      indent = 0;
      continue;
    }
    if (lineStart && (c === 0x20 || c === 0x09)) {
      if (++indent > maxIndent) maxIndent = indent;
      continue;
    }
    lineStart = false;
    if (c === 0x26 || c === 0x2a || c === 0x21 || c === 0x25 || c === 0x3f) return false; // & * ! % ?
    if (c === 0x5b || c === 0x7b) opens++;
    else if (c === 0x2d) indicators++;
    else if (c === 0x3a) {
      indicators++;
      if (nullOrCollectionKeyBefore(text, i)) return false;
    } else continue;
    // Past the bound: the lexer decides, without this scan reading the rest of the file first.
    if (maxIndent + opens + indicators > limits.maxDepth) return false;
  }
  return maxIndent + opens + indicators <= limits.maxDepth;
}

/** Might the `:` at text[colon] close an empty key, a collection key or a null-like plain scalar? */
function nullOrCollectionKeyBefore(text: string, colon: number): boolean {
  let j = colon - 1;
  while (j >= 0 && (text.charCodeAt(j) === 0x20 || text.charCodeAt(j) === 0x09)) j--;
  const c = j < 0 ? -1 : text.charCodeAt(j);
  if (EMPTY_KEY_BEFORE.has(c) || c === 0x5d || c === 0x7d) return true; // ... ] }
  if (c === 0x22 || c === 0x27) return false; // a quoted key: none of the null forms ends with a quote
  let k = j;
  while (k >= 0 && !WORD_START.has(text.charCodeAt(k))) k--;
  // The null forms are at most 4 characters: a longer word is not one, and needs no slice.
  return j - k <= 4 && CORE_NULL.test(text.slice(k + 1, j + 1));
}

/** The same limits over a parsed JSON value (iterative: a deep value cannot overflow the stack). */
export function checkValueLimits(v: unknown, limits: ParseLimits): void {
  let nodes = 0;
  const stack: [unknown, number][] = [[v, 1]];
  while (stack.length > 0) {
    const [x, depth] = stack.pop()!;
    if (++nodes > limits.maxNodes) throw new LimitError(`more than ${limits.maxNodes} JSON nodes`);
    if (depth > limits.maxDepth) throw new LimitError(`nested deeper than ${limits.maxDepth}`);
    if (x !== null && typeof x === 'object') for (const c of Object.values(x)) stack.push([c, depth + 1]);
  }
}

function isList(v: unknown): v is { items: unknown[] } {
  return isObj(v) && typeof v['kind'] === 'string' && v['kind'].endsWith('List') && Array.isArray(v['items']);
}

/**
 * Adds one parsed document. Anything but a mapping (a scalar, a list) is an
 * error of the document — never zero objects — so bytes overwritten with
 * garbage withdraw nothing (a failure is never a deletion).
 */
function addDocument(out: ParsedFile, v: unknown, origin: string): void {
  if (v === null || v === undefined) return; // empty document (e.g. a trailing ---)
  if (!isObj(v)) {
    const what = Array.isArray(v) ? 'a list' : `a ${typeof v}`;
    out.errors.push({ origin, reason: `document is not an object (${what})` });
    return;
  }
  if (isList(v)) {
    v.items.forEach((item, j) => out.objects.push({ obj: item as RawObject, origin: `${origin}.${j}` }));
    return;
  }
  out.objects.push({ obj: v, origin });
}

/**
 * Splits one file into objects: multi-document YAML, JSON, and
 * `kubectl get -o yaml` List output (items expanded, origin "file#doc.item").
 * A file over a limit is one error at origin "file" and no objects.
 */
export function parseManifest(text: string, name: string, limits: ParseLimits = DEFAULT_PARSE_LIMITS): ParsedFile {
  const out: ParsedFile = { objects: [], errors: [] };
  const isJson = name.toLowerCase().endsWith('.json');
  let plain: boolean;
  try {
    if (isJson) {
      // JSON is YAML too, but JSON.parse is ~50x faster than the YAML parser.
      let v: unknown;
      try {
        v = JSON.parse(text);
      } catch (e) {
        out.errors.push({ origin: `${name}#0`, reason: `JSON does not parse: ${(e as Error).message}` });
        return out;
      }
      checkValueLimits(v, { ...limits, maxNodes: limits.maxNodes * JSON_NODE_FACTOR });
      addDocument(out, v, `${name}#0`);
      return out;
    }
    plain = plainWithinLimits(text, limits) || checkYamlLimits(text, limits);
  } catch (e) {
    if (!(e instanceof LimitError)) throw e;
    return { objects: [], errors: [{ origin: name, reason: `file rejected: ${e.message}` }] };
  }
  const fast = plain ? loadPlainYaml(text) : undefined;
  if (fast) {
    fast.forEach((v, i) => addDocument(out, v, `${name}#${i}`));
    return out;
  }
  return parseYamlDocuments(text, name, limits, out);
}

/** The `yaml` library's reading of a file: one error per document that does not parse, the others' objects. */
export function parseYamlDocuments(
  text: string,
  name: string,
  limits: ParseLimits,
  out: ParsedFile = { objects: [], errors: [] },
): ParsedFile {
  const docs = parseAllDocuments(text, { prettyErrors: false });
  const list = Array.isArray(docs) ? docs : [docs];
  list.forEach((doc, i) => {
    const origin = `${name}#${i}`;
    if (doc.errors.length > 0) {
      out.errors.push({ origin, reason: `YAML does not parse: ${doc.errors[0]!.message.split('\n')[0]}` });
      return;
    }
    let v: unknown;
    try {
      v = doc.toJS({ maxAliasCount: limits.maxAliases });
    } catch (e) {
      out.errors.push({ origin, reason: `YAML does not parse: ${(e as Error).message}` });
      return;
    }
    addDocument(out, v, origin);
  });
  return out;
}
