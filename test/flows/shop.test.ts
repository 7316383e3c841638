import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { startShopServices, DEMO_USERS, type ShopServices } from '../../examples/shop/services.js';
import { call, startWeir, type TestWeir } from '../support/weir.js';

/** The bundled example, pointed at demo services on random ports (latencies ÷ 10). */
describe('examples/shop flows', () => {
  let shop: ShopServices;
  let weir: TestWeir;
  let token: string;

  before(async () => {
    shop = await startShopServices({ basePort: 0, latency: 0.1 });
    let yaml = readFileSync(new URL('../../examples/shop/weir.yaml', import.meta.url), 'utf8');
    const ports: Record<string, string> = { auth: '9101', orders: '9102', catalog: '9103' };
    for (const s of shop.services) yaml = yaml.replaceAll(`http://127.0.0.1:${ports[s.name]}`, s.url);
    weir = await startWeir(yaml);
    const user = DEMO_USERS[0]!;
    const login = await call(`${weir.url}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: user.user, password: user.password }) });
    token = login.json().token;
  });
  after(async () => {
    await weir.close();
    await shop.close();
  });

  it('answers order details with every product of the order, in item order', async () => {
    const res = await call(`${weir.url}/shop/orders/1001/details`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 200, res.body);
    const body = res.json();
    assert.equal(body.order.id, 1001);
    assert.equal(body.userId, 1);
    assert.deepEqual(body.products.map((p: { id: number }) => p.id), body.order.items.map((i: { productId: number }) => i.productId));
    assert.match(String(res.headers['server-timing']), /user;dur=.*order;dur=.*products;dur=/);
  });

  it('runs the whole waterfall for the caller: verify → orders → newest order → products', async () => {
    const res = await call(`${weir.url}/shop/me/latest-order`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 200, res.body);
    const body = res.json();
    const list = (await call(`${weir.url}/orders?userId=1`)).json();
    assert.equal(body.order.id, list[0].id, 'the newest order of this user');
    assert.equal(body.products.length, body.order.items.length);
  });

  it('passes the auth service\'s refusal on as 401', async () => {
    const res = await call(`${weir.url}/shop/me/latest-order`, { headers: { authorization: 'Bearer forged' } });
    assert.equal(res.status, 401);
    assert.equal(res.json().failedStep, 'user');
  });

  it('still answers order details without the catalog, saying what is missing', async () => {
    const catalog = shop.services.find((s) => s.name === 'catalog')!;
    await call(`${catalog.url}/_demo/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ failRate: 1, status: 500 }) });
    try {
      const res = await call(`${weir.url}/shop/orders/1002/details`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(res.status, 200, res.body);
      assert.equal(res.headers['weir-failed-steps'], 'products');
      const body = res.json();
      assert.equal(body.order.id, 1002);
      assert.equal(body.products, null);
    } finally {
      await call(`${catalog.url}/_demo/faults`, { method: 'DELETE' });
    }
  });
});
