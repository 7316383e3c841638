import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { DEMO_USERS, startShopServices, type ShopServices } from './services.js';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
}

/** One HTTP exchange on a fresh connection; rejects when the socket dies without an answer. */
function call(url: string, init: { method?: string; headers?: Record<string, string>; body?: unknown } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const payload = init.body === undefined ? undefined : Buffer.from(JSON.stringify(init.body));
    const req = request(
      url,
      {
        method: init.method ?? 'GET',
        agent: false,
        headers: { ...init.headers, ...(payload ? { 'content-type': 'application/json', 'content-length': String(payload.length) } : {}) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const length = res.headers['content-length'];
          assert.equal(length, String(Buffer.byteLength(text)), 'content-length matches the body');
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text === '' ? undefined : (JSON.parse(text) as unknown) });
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

const alice = DEMO_USERS[0]!;

describe('demo shop services', () => {
  let shop: ShopServices;
  const url: Record<string, string> = {};

  before(async () => {
    shop = await startShopServices({ basePort: 0, latency: 'none' });
    for (const s of shop.services) url[s.name] = s.url;
  });
  after(async () => {
    await shop.close();
  });

  it('starts auth, orders and catalog on distinct random ports, each healthy', async () => {
    assert.deepEqual(shop.services.map((s) => s.name), ['auth', 'orders', 'catalog']);
    assert.equal(new Set(shop.services.map((s) => s.url)).size, 3);
    for (const s of shop.services) {
      assert.match(s.url, /^http:\/\/127\.0\.0\.1:\d+$/);
      const r = await call(`${s.url}/health`);
      assert.equal(r.status, 200);
      assert.deepEqual(r.body, { status: 'ok', service: s.name });
      assert.equal(r.headers['content-type'], 'application/json');
    }
  });

  it('logs in, verifies the token, and refuses a wrong password with 401', async () => {
    const login = await call(`${url.auth}/auth/login`, { method: 'POST', body: { user: alice.user, password: alice.password } });
    assert.equal(login.status, 200);
    const { token, userId } = login.body as { token: string; userId: number };
    assert.equal(userId, alice.userId);
    assert.equal(typeof token, 'string');

    const verify = await call(`${url.auth}/auth/verify`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(verify.status, 200);
    assert.deepEqual(verify.body, { userId: alice.userId });

    const bad = await call(`${url.auth}/auth/login`, { method: 'POST', body: { user: alice.user, password: 'nope' } });
    assert.equal(bad.status, 401);
    assert.equal(bad.headers['content-type'], 'application/problem+json');
    assert.equal((bad.body as { status: number }).status, 401);

    const forged = await call(`${url.auth}/auth/verify`, { headers: { authorization: `Bearer ${token.slice(0, -2)}xx` } });
    assert.equal(forged.status, 401);
    assert.equal((await call(`${url.auth}/auth/verify`)).status, 401);
  });

  it('lists a user\'s orders and returns an order\'s detail', async () => {
    const list = await call(`${url.orders}/orders?userId=${alice.userId}`);
    assert.equal(list.status, 200);
    const orders = list.body as { id: number; date: string; total: number }[];
    assert.ok(orders.length >= 3 && orders.length <= 8, `a handful of orders, got ${orders.length}`);
    for (const o of orders) assert.deepEqual(Object.keys(o).sort(), ['date', 'id', 'total']);

    const first = orders[0]!;
    const detail = await call(`${url.orders}/orders/${first.id}`);
    assert.equal(detail.status, 200);
    const order = detail.body as { id: number; userId: number; items: { productId: number; quantity: number }[]; shipping: unknown; total: number };
    assert.equal(order.id, first.id);
    assert.equal(order.userId, alice.userId);
    assert.equal(order.total, first.total);
    assert.ok(order.items.length >= 2 && order.items.length <= 5);
    assert.ok(order.shipping);

    assert.equal((await call(`${url.orders}/orders/999999`)).status, 404);
    assert.equal((await call(`${url.orders}/orders`)).status, 400);
  });

  it('serves the same data on every start (seeded)', async () => {
    const again = await startShopServices({ basePort: 0, latency: 'none' });
    try {
      const ordersUrl = again.services.find((s) => s.name === 'orders')!.url;
      const a = await call(`${url.orders}/orders?userId=2`);
      const b = await call(`${ordersUrl}/orders?userId=2`);
      assert.deepEqual(a.body, b.body);
    } finally {
      await again.close();
    }
  });

  it('returns a product, and a batch in the order asked with unknown ids left out', async () => {
    const one = await call(`${url.catalog}/products/7`);
    assert.equal(one.status, 200);
    const p = one.body as Record<string, unknown>;
    assert.deepEqual(Object.keys(p).sort(), ['description', 'id', 'imageUrl', 'name', 'price']);
    assert.equal(p.id, 7);

    const batch = await call(`${url.catalog}/products?ids=12,3,9999,7`);
    assert.equal(batch.status, 200);
    assert.deepEqual((batch.body as { id: number }[]).map((x) => x.id), [12, 3, 7]);
    assert.deepEqual((batch.body as unknown[])[2], p);

    assert.equal((await call(`${url.catalog}/products/9999`)).status, 404);
  });

  it('answers the status asked for by x-demo-fail with a problem+json body', async () => {
    const r = await call(`${url.catalog}/products/1`, { headers: { 'x-demo-fail': '503' } });
    assert.equal(r.status, 503);
    assert.equal(r.headers['content-type'], 'application/problem+json');
    const body = r.body as { status: number; title: string; detail: string };
    assert.equal(body.status, 503);
    assert.equal(body.title, 'Service Unavailable');
    assert.match(body.detail, /x-demo-fail/);
    assert.equal((await call(`${url.catalog}/products/1`, { headers: { 'x-demo-fail': 'soon' } })).status, 400);
  });

  it('holds the response for x-demo-delay milliseconds', async () => {
    const delay = 150;
    const started = performance.now();
    const r = await call(`${url.orders}/orders/1001`, { headers: { 'x-demo-delay': String(delay) } });
    const elapsed = performance.now() - started;
    assert.equal(r.status, 200);
    // A lower bound (the server held the answer at least this long), not a performance target.
    assert.ok(elapsed >= delay - 1, `answered after ${elapsed.toFixed(1)} ms, expected >= ${delay}`);
  });

  it('destroys the socket without answering on x-demo-drop', async () => {
    await assert.rejects(call(`${url.auth}/health`, { headers: { 'x-demo-drop': '1' } }), (err: NodeJS.ErrnoException) => {
      assert.equal(err.code, 'ECONNRESET');
      return true;
    });
  });

  it('goes down and comes back through /_demo/faults', async () => {
    const down = await call(`${url.orders}/_demo/faults`, { method: 'POST', body: { down: true } });
    assert.equal(down.status, 200);
    assert.deepEqual(down.body, { failRate: 0, status: 503, extraDelayMs: 0, down: true });
    try {
      assert.equal((await call(`${url.orders}/health`)).status, 503);
      assert.equal((await call(`${url.orders}/orders/1001`)).status, 503);
      assert.equal(((await call(`${url.orders}/_demo/faults`)).body as { down: boolean }).down, true);
      // The other services are unaffected.
      assert.equal((await call(`${url.catalog}/health`)).status, 200);
    } finally {
      await call(`${url.orders}/_demo/faults`, { method: 'POST', body: { down: false } });
    }
    assert.equal((await call(`${url.orders}/health`)).status, 200);
  });

  it('fails every request at failRate 1 with the configured status, and rejects bad settings', async () => {
    await call(`${url.catalog}/_demo/faults`, { method: 'POST', body: { failRate: 1, status: 500 } });
    try {
      assert.equal((await call(`${url.catalog}/products/1`)).status, 500);
    } finally {
      await call(`${url.catalog}/_demo/faults`, { method: 'DELETE' });
    }
    assert.equal((await call(`${url.catalog}/products/1`)).status, 200);
    assert.equal((await call(`${url.catalog}/_demo/faults`, { method: 'POST', body: { failRate: 2 } })).status, 400);
    assert.equal((await call(`${url.catalog}/_demo/faults`, { method: 'POST', body: { nope: 1 } })).status, 400);
  });

  it('answers 404 for unknown paths and 405 for a wrong method', async () => {
    assert.equal((await call(`${url.auth}/nope`)).status, 404);
    const r = await call(`${url.auth}/auth/login`);
    assert.equal(r.status, 405);
    assert.equal(r.headers.allow, 'POST');
  });
});

describe('demo shop latency', () => {
  it('applies the seed latency, scaled', async () => {
    // Scale 0.5: the order detail (200 ms in the seed table) takes at least 100 ms.
    const shop = await startShopServices({ basePort: 0, latency: 0.5 });
    try {
      const orders = shop.services.find((s) => s.name === 'orders')!.url;
      const started = performance.now();
      const r = await call(`${orders}/orders/1001`);
      assert.equal(r.status, 200);
      assert.ok(performance.now() - started >= 99, 'held for the scaled seed latency');
    } finally {
      await shop.close();
    }
  });

  it('close() ends requests still waiting out their latency', async () => {
    const shop = await startShopServices({ basePort: 0, latency: 'none' });
    const auth = shop.services[0]!.url;
    const pending = call(`${auth}/health`, { headers: { 'x-demo-delay': '60000' } });
    await new Promise((r) => setTimeout(r, 50));
    const started = performance.now();
    await shop.close();
    assert.ok(performance.now() - started < 1000, 'close did not wait for the delay');
    await assert.rejects(pending);
  });
});
