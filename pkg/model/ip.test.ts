import { isIP } from 'node:net';
import t from 'tap';
import { bytesToIp, canonicalIp, ipToBytes, parseCidr } from './index';

t.test('IPv4 and IPv6 to 4/16 bytes', async (t) => {
  t.same([...ipToBytes('10.1.2.3')!], [10, 1, 2, 3]);
  t.equal(ipToBytes('fd00::1')!.toString('hex'), 'fd000000000000000000000000000001');
  t.equal(ipToBytes('::ffff:1.2.3.4')!.toString('hex'), '00000000000000000000ffff01020304');
  t.equal(ipToBytes('::')!.length, 16);
});

t.test('malformed addresses are refused', async (t) => {
  for (const bad of [
    '10.0.0.300',
    '1.2.3',
    '1.2.3.4.5',
    '01.2.3.4',
    '1..2.3',
    ' 1.2.3.4',
    'x',
    '',
    'fe80::1%eth0',
    '1:2:3:4:5:6:7:8:9',
    '::1::2',
  ]) {
    t.equal(ipToBytes(bad), undefined, JSON.stringify(bad));
  }
});

t.test('canonical text agrees with node:net and round-trips', async (t) => {
  for (const ip of [
    '0.0.0.0',
    '255.255.255.255',
    '2001:db8::1',
    '2001:0db8:0000:0000:0000:0000:0000:0001',
    'fd00:0:0:1::',
    '1:0:0:1:0:0:0:1',
  ]) {
    const c = canonicalIp(ip)!;
    t.ok(isIP(c), `${ip} → ${c}`);
    t.same(ipToBytes(c), ipToBytes(ip));
  }
  t.equal(canonicalIp('2001:0db8:0000:0000:0000:0000:0000:0001'), '2001:db8::1');
  t.equal(canonicalIp('1:0:0:1:0:0:0:1'), '1:0:0:1::1', 'longest zero run compressed');
  t.equal(bytesToIp(Buffer.from([192, 168, 0, 1])), '192.168.0.1');
});

t.test('CIDRs', async (t) => {
  t.same(parseCidr('10.0.0.0/8'), { bytes: Buffer.from([10, 0, 0, 0]), length: 8 });
  t.equal(parseCidr('10.0.0.1')!.length, 32);
  t.equal(parseCidr('2001:db8::')!.length, 128);
  t.equal(parseCidr('10.0.0.0/33'), undefined);
  t.equal(parseCidr('10.0.0.0/x'), undefined);
});

/** Colon-hex of 16 bytes with no compression: a form the URL parser accepts. */
const fullHex = (b: Uint8Array): string =>
  Array.from({ length: 8 }, (_, i) => ((b[2 * i]! << 8) | b[2 * i + 1]!).toString(16)).join(':');

t.test('IPv6 text matches the WHATWG URL serializer for every zero-group pattern', async (t) => {
  // RFC 5952 §4.2.3 and the URL standard's IPv6 serializer pick the same run (first longest, length ≥ 2).
  // Groups such as 0xfd00 or 0x10 end in "0" next to a zero run: the case a text-based compressor gets wrong.
  let checked = 0;
  for (let mask = 0; mask < 256; mask++) {
    for (const v of [0x1, 0x10, 0xa0, 0xfd00, 0xffff]) {
      const b = Buffer.alloc(16);
      for (let g = 0; g < 8; g++) if (mask & (1 << g)) b.writeUInt16BE(v, 2 * g);
      const viaUrl = new URL(`http://[${fullHex(b)}]/`).hostname.slice(1, -1);
      if (bytesToIp(b) !== viaUrl) t.fail(`${b.toString('hex')}: ${bytesToIp(b)} !== ${viaUrl}`);
      checked++;
    }
  }
  t.equal(checked, 256 * 5);
});

t.test('text form seen by alias keys, VIPs and collision keys', async (t) => {
  const hex = (s: string): Buffer => Buffer.from(s, 'hex');
  // The same text the former push/encoder ipToString wrote for these inputs.
  t.equal(bytesToIp(Buffer.from([10, 96, 0, 1])), '10.96.0.1');
  t.equal(bytesToIp(Buffer.from([240, 240, 1, 0])), '240.240.1.0');
  t.equal(bytesToIp(hex('20010db8000000000000000000000001')), '2001:db8::1');
  t.equal(bytesToIp(hex('00000000000000000000000000000001')), '::1');
  t.equal(bytesToIp(hex('00010000000000000000000000000000')), '1::');
  t.equal(bytesToIp(hex('20010db8000000000001000000000001')), '2001:db8::1:0:0:1');
  t.equal(bytesToIp(hex('20010db8000100000001000100010001')), '2001:db8:1:0:1:1:1:1', 'a single zero group stays');
  t.equal(bytesToIp(hex('00000000000000000000ffff01020304')), '::ffff:102:304', 'IPv4-mapped stays hex');
  t.equal(bytesToIp(Buffer.from([1, 2, 3])), '010203', 'an invalid length shows its bytes');
  // ipToString wrote these wrongly (it cut the first "0:0" substring, even inside "fd00"): fd0:0:1, "", fe8:0:1.
  t.equal(bytesToIp(hex('fd000000000000000000000000000001')), 'fd00::1');
  t.equal(bytesToIp(hex('00000000000000000000000000000000')), '::');
  t.equal(bytesToIp(hex('fe800000000000000000000000000001')), 'fe80::1');
});
