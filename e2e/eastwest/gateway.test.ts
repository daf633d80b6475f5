import t from 'tap';
import { startGatewayFixture, hboneClient, readAll, GLOBAL_HOST, type GatewayFixture } from './fixture';

let f: GatewayFixture;
t.before(async () => {
  f = await startGatewayFixture();
});
t.teardown(async () => f?.close());

t.test('a trusted caller reaches an exported service; bytes relayed both ways', async (t) => {
  const id = f.workloadCert('demo', 'client');
  const c = await hboneClient(f.hbonePort, id, f.gatewaySpiffe);
  t.same(c.serverSans, [f.gatewaySpiffe], 'the gateway presents its own SPIFFE id');
  const { status, stream } = await c.connect(`${GLOBAL_HOST}:80`);
  t.equal(status, 200);
  stream.end(Buffer.from('hello'));
  const back = await readAll(stream);
  t.equal(back.toString(), 'hello', 'echoed through the destination stand-in');
  c.close();
});
