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
  for (const bad of ['10.0.0.300', '1.2.3', '1.2.3.4.5', '01.2.3.4', '1..2.3', ' 1.2.3.4', 'x', '', 'fe80::1%eth0', '1:2:3:4:5:6:7:8:9', '::1::2']) {
    t.equal(ipToBytes(bad), undefined, JSON.stringify(bad));
  }
});

t.test('canonical text agrees with node:net and round-trips', async (t) => {
  for (const ip of ['0.0.0.0', '255.255.255.255', '2001:db8::1', '2001:0db8:0000:0000:0000:0000:0000:0001', 'fd00:0:0:1::', '1:0:0:1:0:0:0:1']) {
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
