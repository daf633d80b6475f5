import t from 'tap';
import { encodeDeltaResponseParts, partBytes } from './delta-codec';
import { loadWire, TYPE_ADDRESS } from './schema';
import { ResponseHeads } from './response-head';

const wire = loadWire();

t.test('ResponseHeads writes the bytes encodeDeltaResponseParts writes for the same strings', (t) => {
  const cases: { prefix: string; typeUrl: string; version: number; nonceNo: number; removed: string[] }[] = [
    { prefix: 'caught-up-', typeUrl: TYPE_ADDRESS, version: 1, nonceNo: 1, removed: [] },
    { prefix: 's-', typeUrl: TYPE_ADDRESS, version: 0, nonceNo: 9, removed: ['ns/a'] },
    { prefix: 's-', typeUrl: TYPE_ADDRESS, version: 10, nonceNo: 10, removed: ['ns/ç', 'x'.repeat(300)] },
    { prefix: 'ztunnel-é-', typeUrl: 'type.example/é', version: 2 ** 40 + 7, nonceNo: 123_456_789, removed: [] },
    // A nonce past 127 bytes: its length is a two-byte varint.
    { prefix: 'p'.repeat(130), typeUrl: 'type.example/' + 't'.repeat(200), version: 99, nonceNo: 100, removed: [] },
  ];
  for (const c of cases) {
    const heads = new ResponseHeads(c.prefix);
    const nonce = heads.nonce(c.nonceNo);
    t.equal(nonce, `${c.prefix}${c.nonceNo}`);
    const want = partBytes(
      encodeDeltaResponseParts({
        typeUrl: c.typeUrl,
        nonce,
        systemVersionInfo: String(c.version),
        frames: [],
        removed: c.removed,
      })[0]!,
    );
    const head = heads.forType(c.typeUrl);
    const got = head.encode(c.version, c.nonceNo, c.removed);
    t.same([...got], [...want], `${c.prefix.slice(0, 12)} v${c.version} n${c.nonceNo}: same bytes`);
    // Twice through the template, and the decoder reads back what was meant.
    const again = head.encode(c.version, c.nonceNo, c.removed);
    t.ok(again.equals(got));
    const msg = wire.DeltaDiscoveryResponse.toObject(wire.DeltaDiscoveryResponse.decode(got)) as Record<
      string,
      unknown
    >;
    t.equal(msg.systemVersionInfo, String(c.version));
    t.equal(msg.typeUrl, c.typeUrl);
    t.equal(msg.nonce, nonce);
    t.same(msg.removedResources ?? [], c.removed);
  }
  t.end();
});

t.test('ResponseHeads leaves room for the tail', (t) => {
  const head = new ResponseHeads('s-').forType(TYPE_ADDRESS);
  const bare = head.encode(5, 6, []);
  const roomy = head.encode(5, 6, [], 40);
  t.equal(roomy.length, bare.length + 40);
  t.ok(roomy.subarray(0, bare.length).equals(bare));
  t.end();
});

t.test('ResponseHeads leaves room in front for a frame prefix', (t) => {
  const head = new ResponseHeads('s-').forType(TYPE_ADDRESS);
  const bare = head.encode(5, 6, ['ns/gone']);
  const framed = head.encode(5, 6, ['ns/gone'], 40, 5);
  t.equal(framed.length, 5 + bare.length + 40);
  t.ok(framed.subarray(5, 5 + bare.length).equals(bare));
  t.end();
});

t.test('ResponseHeads.isNonce(text, n) is text === nonce(n), and false for n = 0', (t) => {
  const prefixes = ['s-', 'caught-up-', 's-1', 'ztunnel-é-', ''];
  const numbers = [0, 1, 2, 9, 10, 12, 99, 100, 112, 123_456_789, 2 ** 31 - 1, 2 ** 31, 2 ** 40 + 7];
  let checked = 0;
  for (const prefix of prefixes) {
    const heads = new ResponseHeads(prefix);
    const texts = ['', prefix, `${prefix}0`, `${prefix}01`, `${prefix}1 `, ` ${prefix}1`, `x${prefix.slice(1)}1`];
    for (const m of numbers) texts.push(heads.nonce(m), `${heads.nonce(m)}0`, heads.nonce(m).slice(1));
    for (const other of prefixes) texts.push(`${other}12`, `${other}112`);
    for (const n of numbers) {
      for (const text of texts) {
        const want = n !== 0 && text === heads.nonce(n);
        if (heads.isNonce(text, n) !== want) t.fail(`prefix ${JSON.stringify(prefix)} n ${n}: ${JSON.stringify(text)}`);
        checked++;
      }
      t.ok(n === 0 || heads.isNonce(heads.nonce(n), n), `${JSON.stringify(prefix)} ${n}: its own nonce`);
    }
  }
  t.ok(checked > 1000, `${checked} pairs`);
  t.end();
});

t.test('one ResponseHead, as nonces and versions gain digits, writes what encodeDeltaResponseParts writes', (t) => {
  // A 125-byte prefix: the nonce's length crosses 127 (a two-byte varint) as the nonce gains digits.
  for (const prefix of ['s-', 'p'.repeat(125)]) {
    const heads = new ResponseHeads(prefix);
    const head = heads.forType(TYPE_ADDRESS);
    let wrong = 0;
    let n = 0;
    for (const nonceNo of [1, 9, 10, 11, 99, 100, 101, 999, 1000, 12_345, 2 ** 31 - 1, 2 ** 31, 7, 2 ** 33]) {
      for (const version of [0, 9, 10, 123_456]) {
        const removed = nonceNo % 2 === 0 ? ['ns/gone'] : [];
        const want = partBytes(
          encodeDeltaResponseParts({
            typeUrl: TYPE_ADDRESS,
            nonce: heads.nonce(nonceNo),
            systemVersionInfo: String(version),
            frames: [],
            removed,
          })[0]!,
        );
        if (!head.encode(version, nonceNo, removed).equals(want)) wrong++;
        n++;
      }
    }
    t.equal(wrong, 0, `prefix of ${prefix.length}: ${n} heads`);
  }
  t.end();
});
