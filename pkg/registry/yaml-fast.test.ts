import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t from 'tap';
import { podYaml, writeMesh } from '../../bench/lib/mesh-gen';
import {
  checkYamlLimits,
  DEFAULT_PARSE_LIMITS,
  LimitError,
  parseManifest,
  parseYamlDocuments,
  plainWithinLimits,
  type ParseLimits,
} from './manifest';
import { loadPlainYaml } from './yaml-fast';

const ROOT = path.join(__dirname, '..', '..', '..');

/** Every YAML file of the repository (examples, deploy, fixtures, test data). */
function repoManifests(): { name: string; text: string }[] {
  const out: { name: string; text: string }[] = [];
  const walk = (dir: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      if (e.name.startsWith('.') || e.name === 'node_modules' || e.name === 'dist') continue;
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.ya?ml$/.test(e.name)) out.push({ name: path.relative(ROOT, p), text: fs.readFileSync(p, 'utf8') });
    }
  };
  for (const d of ['examples', 'deploy', 'e2e', 'pkg']) walk(path.join(ROOT, d));
  return out;
}

/** Scalars in every form the core schema resolves, and near misses of each. */
const SCALARS = [
  ...['0', '-0', '+12', '017', '0o17', '-0o17', '0o8', '0x1F', '+0x1F', '0x1g', '0b101', '1_000', '1,000'],
  ...['9007199254740993', '100000000000000000000', '1.0', '1.10', '0.', '.5', '-.5', '1.', '0.1.2', '1e3', '1E3'],
  ...['1e+3', '-1.5e-3', '1e400', '1e', 'e3', '.inf', '-.Inf', '+.INF', '.nan', '.NaN', '.NAN', 'nan', 'inf'],
  ...['~', 'null', 'Null', 'NULL', 'nULL', 'true', 'True', 'TRUE', 'tRUE', 'false', 'False', 'FALSE'],
  ...['yes', 'no', 'on', 'off', 'y', 'n', '2024-01-01', '2024-01-01T00:00:00Z', '12:30', '1:20:30', '=', '<<'],
  ...['"12"', "'12'", '"true"', '"a\\tb"', '"x\\u00e9\\n"', '"\\x41"', "'it''s'", 'a b c', 'http://x/y?z=1'],
  ...['"null"', '10.0.0.1', '::1', 'fe80::1%eth0', '"1e3"', '-', '+', '.'],
];

/** Structures: block and flow collections, block scalars, documents, comments, and what the fast path declines. */
const STRUCTURES = [
  'a:\n  - b\n  -\n  - c\n',
  'a: |\n  x\n  y\n',
  'a: |-\n  x\n\n',
  'a: |+\n  x\n\n',
  'a: >\n  x\n  y\n\n  z\n',
  'a: >2\n   x\n',
  'a: [1, 2,]\n',
  'a: {b: 1, }\n',
  'a: {b: [1, {c: d}], e: ""}\n',
  'a: 1 # c\nb: x#y\n',
  'a: b\n  c\n  d\n',
  'key with spaces: v\n',
  '"quoted key": 1\n\'single\': 2\n',
  '"null": 1\n',
  'a:\nb: ~\nc: null\n',
  '---\na: 1\n',
  '---\n---\na: 1\n',
  'a: 1\n---\n',
  'a: 1\n---\nb: 2\n...\n---\nc: 3\n',
  '# only a comment\n',
  '# c\n---\na: 1\n',
  '',
  '- a\n- b\n',
  'a\n',
  'kind: List\napiVersion: v1\nitems:\n- {kind: Pod, metadata: {name: a}}\n- {kind: Pod, metadata: {name: b}}\n',
  'a: 1\r\nb:\r\n  - c\r\n',
  // Declined by checkYamlLimits (the two parsers differ or the yaml library is needed), then equal through it.
  'a: &x {b: 1}\nc: *x\n',
  'a: !!str 12\n',
  'a: !custom x\n',
  '%YAML 1.1\n---\na: yes\n',
  '? [a, b]\n: c\n',
  '~: a\n',
  'null: a\n',
  'b:\n  Null : a\n',
  '[a, b]: c\n',
  '{a: 1}: c\n',
  '{: a}\n',
  ': a\n',
  '- : a\n',
  // Errors: js-yaml refuses, the yaml library reports them per document.
  'a: 1\na: 2\n',
  'a: "b" c\n',
  '\ta: 1\n',
  'a: 1\n---\nb: [\n---\nc: 3\n',
  'a: {b: 1\n',
];

function corpus(): { name: string; text: string }[] {
  const out = repoManifests();
  for (const s of SCALARS) {
    out.push({ name: `scalar ${s}`, text: `v: ${s}\nlist: [${s}]\nseq:\n- ${s}\n` });
    out.push({ name: `key ${s}`, text: `${s}: v\n` });
  }
  STRUCTURES.forEach((s, i) => out.push({ name: `structure ${i}`, text: s }));
  // The bench's generated mesh: namespaces, nodes, services, policies, pods.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'yaml-fast-'));
  try {
    writeMesh(dir, { workloads: 50, services: 5, policies: 3, churnPods: 2 });
    for (const f of fs.readdirSync(dir)) out.push({ name: f, text: fs.readFileSync(path.join(dir, f), 'utf8') });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

t.test('the fast path reads every file of the corpus as the yaml library does, or declines it', async (t) => {
  const files = corpus();
  let fast = 0;
  let repoFast = 0;
  const repo = repoManifests().length;
  t.ok(repo >= 20, `the repository's manifests are found (${repo})`);
  for (const { name, text } of files) {
    const plain = checkYamlLimits(text, DEFAULT_PARSE_LIMITS);
    const docs = plain ? loadPlainYaml(text) : undefined;
    if (docs) {
      fast++;
      if (files.indexOf(files.find((f) => f.name === name)!) < repo) repoFast++;
    }
    // parseManifest takes the fast path when it can; the reference is the yaml library alone.
    t.strictSame(parseManifest(text, name), parseYamlDocuments(text, name, DEFAULT_PARSE_LIMITS), name);
  }
  t.equal(repoFast, repo, 'every manifest in the repository is plain and goes the fast way');
  t.ok(fast > files.length / 2, `${fast} of ${files.length} files took the fast path`);
});

t.test('checkYamlLimits declines what the two parsers would read differently', async (t) => {
  const declined = [
    'a: &x {b: 1}\nc: *x\n',
    'a: !!str 12\n',
    '%YAML 1.1\n---\na: yes\n',
    '? a\n: b\n',
    '~: a\n',
    'null: a\n',
    'NULL : a\n',
    '[a, b]: c\n',
    '{a: 1}: c\n',
    '{: a}\n',
    '{x: 1, : a}\n',
    '- : a\n',
  ];
  for (const y of declined) t.notOk(checkYamlLimits(y, DEFAULT_PARSE_LIMITS), JSON.stringify(y));
  const plain = ['a: ~\n', 'a: null\nb: [~, null]\n', '"null": 1\n', 'url: http://x:80/y\n', 'a: {b: c}\n', '# ~: a\n'];
  for (const y of plain) t.ok(checkYamlLimits(y, DEFAULT_PARSE_LIMITS), JSON.stringify(y));
});

t.test('a file js-yaml refuses keeps its per-document errors and its good documents', async (t) => {
  const text =
    'kind: Pod\nmetadata: {name: a}\n---\nkind: Pod\nmetadata: {name: [\n---\nkind: Pod\nmetadata: {name: c}\n';
  t.equal(loadPlainYaml(text), undefined, 'js-yaml fails the whole file');
  const parsed = parseManifest(text, 'f.yaml');
  t.same(
    parsed.objects.map((o) => o.origin),
    ['f.yaml#0', 'f.yaml#2'],
    'the good documents, at their indices',
  );
  t.equal(parsed.errors.length, 1);
  t.match(parsed.errors[0]!, { origin: 'f.yaml#1', reason: /^YAML does not parse/ });
});

/** Pieces of YAML syntax and near misses, for random text (a fixed seed: the same strings every run). */
const PIECES = [
  'a',
  'b c',
  'null',
  '~',
  'Null',
  'NULL',
  ':',
  ': ',
  '-',
  '- ',
  '[',
  ']',
  '{',
  '}',
  ',',
  ' ',
  '  ',
  '\n',
];
PIECES.push('\n  ', '\t', '"', "'", '"q"', '# c', '|', '>', '?', '&x', '*x', '!t', '%', '---', '...', '1', '0x1', '.5');
PIECES.push('http://h:1/p', '::1', '\r\n', 'a-b', 'a:b', '|-', '>+', '@', '`', '\\', '#');

function* randomTexts(n: number): Generator<string> {
  let seed = 0x2545f491;
  const next = (m: number): number => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) % m;
  };
  for (let i = 0; i < n; i++) {
    let text = '';
    const len = 1 + next(40);
    for (let k = 0; k < len; k++) text += PIECES[next(PIECES.length)]!;
    yield text;
  }
}

/** checkYamlLimits' verdict: 'plain', 'not plain' or 'rejected' (a limit). */
function lexerVerdict(text: string, limits: ParseLimits): string {
  try {
    return checkYamlLimits(text, limits) ? 'plain' : 'not plain';
  } catch (e) {
    if (e instanceof LimitError) return 'rejected';
    throw e;
  }
}

t.test('plainWithinLimits says plain only where the lexer passes the file and calls it plain', async (t) => {
  const tight: ParseLimits = { maxNodes: 60, maxAliases: 1, maxDepth: 12 };
  let accepted = 0;
  let checked = 0;
  const texts = [...corpus().map((f) => f.text), ...randomTexts(300_000)];
  for (const text of texts) {
    for (const limits of [DEFAULT_PARSE_LIMITS, tight]) {
      if (!plainWithinLimits(text, limits)) continue;
      accepted++;
      const v = lexerVerdict(text, limits);
      checked++;
      if (v !== 'plain') t.fail(`${JSON.stringify(text)}: the lexer says ${v}`);
    }
  }
  t.ok(accepted > 2_000, `${accepted} texts accepted without the lexer, each checked against it`);
  t.equal(checked, accepted);
  t.ok(
    plainWithinLimits(podYaml('ns-1', 'churn-1-g5', 'app-1', '10.48.0.5', 'node-1'), DEFAULT_PARSE_LIMITS),
    'a one-pod edit skips the lexer',
  );
  for (const y of ['a: &x 1\n', 'a: *x\n', '~: a\n', '[a]: b\n', '{a: 1}: c\n', '- : a\n', 'x: {b: 1, : a}\n']) {
    t.notOk(plainWithinLimits(y, DEFAULT_PARSE_LIMITS), JSON.stringify(y));
  }
  t.notOk(
    plainWithinLimits('a:\n' + '  '.repeat(300) + 'b\n', DEFAULT_PARSE_LIMITS),
    'deep indentation: left to the lexer',
  );
});
