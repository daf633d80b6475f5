import t from 'tap';
import { addressAliases } from './index';

t.test('on-demand aliases are network/ip for workload IPs and service VIPs', async (t) => {
  const v6 = Buffer.from('fd000000000000000000000000000001', 'hex');
  t.same(addressAliases({ workload: { network: 'n1', addresses: [Buffer.from([10, 0, 0, 7]), v6] } }), [
    'n1/10.0.0.7',
    'n1/fd00::1',
  ]);
  t.same(addressAliases({ service: { addresses: [{ address: Buffer.from([10, 96, 0, 1]) }, { network: 'n2' }] } }), [
    '/10.96.0.1',
  ]);
  t.same(addressAliases({ workload: { addresses: [] } }), []);
});
