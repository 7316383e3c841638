import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { call as request } from '../../test/support/weir.js';
import { DEMO_CARDS, DEMO_USERS, TRAVEL_SERVICE_NAMES, startTravelServices, type Offer, type Reservation, type TravelServices } from './services.js';

/** Request options for a POST of `body` as JSON. */
const json = (body: unknown) => ({ method: 'POST' as const, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

describe('demo travel services', () => {
  let travel: TravelServices;
  const url = (name: (typeof TRAVEL_SERVICE_NAMES)[number]) => travel.url(name);

  before(async () => {
    travel = await startTravelServices({ basePort: 0, latency: 'none' });
  });
  after(async () => {
    await travel.close();
  });

  /** A search session of `userId` and the offer for its first flight. */
  async function offer(userId = 1, date = '2026-07-01'): Promise<Offer & { searchSessionId: string }> {
    const search = (await request(`${url('flights')}/flights/search?from=OPO&to=CDG&date=${date}&userId=${userId}`)).json();
    const priced = await request(`${url('pricing')}/pricing/${search.flights[0].flightId}?searchSessionId=${search.searchSessionId}`);
    assert.equal(priced.status, 200, priced.body);
    return { ...priced.json(), searchSessionId: search.searchSessionId };
  }

  const passenger = { name: 'Bob Example', email: 'bob@example.com' };
  const book = (bookingToken: string, userId = 1) => request(`${url('bookings')}/bookings`, json({ bookingToken, userId, passenger }));

  it('starts the six services on distinct random ports, each healthy', async () => {
    assert.deepEqual(travel.services.map((s) => s.name), [...TRAVEL_SERVICE_NAMES]);
    assert.equal(new Set(travel.services.map((s) => s.url)).size, 6);
    for (const s of travel.services) {
      const r = await request(`${s.url}/health`);
      assert.equal(r.status, 200);
      assert.deepEqual(r.json(), { status: 'ok', service: s.name });
    }
  });

  it('logs in and verifies tokens with the demo shop\'s users', async () => {
    const user = DEMO_USERS[1]!;
    const login = await request(`${url('auth')}/auth/login`, json({ user: user.user, password: user.password }));
    assert.equal(login.status, 200);
    const verify = await request(`${url('auth')}/auth/verify`, { headers: { authorization: `Bearer ${login.json().token}` } });
    assert.deepEqual(verify.json(), { userId: user.userId });
    assert.equal((await request(`${url('auth')}/auth/verify`, { headers: { authorization: 'Bearer nope' } })).status, 401);
  });

  it('finds five flights of a route and day, the same on every search, in a new session each time', async () => {
    const search = (q: string) => request(`${url('flights')}/flights/search?${q}`);
    const a = await search('from=lis&to=BER&date=2026-05-01&userId=1');
    const b = await search('from=LIS&to=BER&date=2026-05-01&userId=2');
    assert.equal(a.status, 200);
    const flights = a.json().flights;
    assert.equal(flights.length, 5);
    assert.equal(new Set(flights.map((f: { flightId: string }) => f.flightId)).size, 5);
    for (const f of flights) {
      assert.equal(f.from, 'LIS');
      assert.equal(f.to, 'BER');
      assert.ok(f.departure.startsWith('2026-05-01T') && Date.parse(f.arrival) > Date.parse(f.departure));
    }
    assert.deepEqual(b.json().flights, flights);
    assert.notEqual(b.json().searchSessionId, a.json().searchSessionId);
    assert.notDeepEqual((await search('from=LIS&to=BER&date=2026-05-02&userId=1')).json().flights, flights);
    for (const bad of ['from=LIS&to=LIS&date=2026-05-01&userId=1', 'from=LISBOA&to=BER&date=2026-05-01&userId=1', 'from=LIS&to=BER&date=May&userId=1', 'from=LIS&to=BER&date=2026-05-01']) {
      assert.equal((await search(bad)).status, 400, bad);
    }
  });

  it('prices only the flights of a search session, at a stable price, with a new bookingToken each time', async () => {
    const first = await offer();
    const again = (await request(`${url('pricing')}/pricing/${first.flightId}?searchSessionId=${first.searchSessionId}`)).json();
    assert.equal(first.price.currency, 'EUR');
    assert.ok(first.price.amount > 0 && first.seatsLeft > 0);
    assert.deepEqual(again.price, first.price);
    assert.notEqual(again.bookingToken, first.bookingToken);
    assert.equal((await request(`${url('pricing')}/pricing/${first.flightId}?searchSessionId=ss_unknown`)).status, 404);
    assert.equal((await request(`${url('pricing')}/pricing/XX1-2026-07-01?searchSessionId=${first.searchSessionId}`)).status, 404);
    assert.equal((await request(`${url('pricing')}/pricing/${first.flightId}`)).status, 400);
  });

  it('books a seat once per bookingToken, for the user it was issued to, and cancels it', async () => {
    const o = await offer(1, '2026-07-02');
    assert.equal((await book('bt_unknown')).status, 422);
    assert.equal((await book(o.bookingToken, 2)).status, 403, 'a token is bound to the user who searched');

    const booked = await book(o.bookingToken);
    assert.equal(booked.status, 201, booked.body);
    const r = booked.json() as Reservation;
    assert.equal(r.status, 'booked');
    assert.equal(r.flight.flightId, o.flightId);
    assert.deepEqual(r.price, o.price);
    assert.deepEqual(r.passenger, passenger);
    assert.equal((await book(o.bookingToken)).status, 409, 'the same token books once');
    assert.equal((await offer(1, '2026-07-02')).seatsLeft, o.seatsLeft - 1, 'one seat fewer');

    const cancel = await request(`${url('bookings')}/bookings/${r.reservationId}`, { method: 'DELETE' });
    assert.equal(cancel.status, 200);
    assert.equal(cancel.json().status, 'cancelled');
    const seen = (await request(`${url('bookings')}/bookings/${r.reservationId}`)).json();
    assert.equal(seen.status, 'cancelled');
    assert.equal(typeof seen.cancelledAt, 'string');
    assert.equal((await request(`${url('bookings')}/bookings/${r.reservationId}`, { method: 'DELETE' })).json().status, 'cancelled', 'cancelling again is harmless');
    assert.equal((await offer(1, '2026-07-02')).seatsLeft, o.seatsLeft, 'the seat is back on sale');
    assert.equal((await book(o.bookingToken)).status, 201, 'the token books again after a cancellation');

    const mine = (await request(`${url('bookings')}/bookings?userId=1`)).json() as Reservation[];
    assert.ok(mine.length >= 2 && mine.every((x) => x.userId === 1));
    assert.equal((await request(`${url('bookings')}/bookings/RES-0`)).status, 404);
    assert.equal((await request(`${url('bookings')}/bookings`, json({ bookingToken: o.bookingToken, userId: 1 }))).status, 400);
  });

  it('charges a card, declines the demo declined cards with 402, and refunds once', async () => {
    const pay = (cardNumber: string) => request(`${url('payments')}/payments`, json({ reservationId: 'RES-1', amount: 99.99, currency: 'EUR', payment: { cardNumber } }));
    const ok = await pay('4242 4242 4242 4242');
    assert.equal(ok.status, 201, ok.body);
    const p = ok.json();
    assert.equal(p.status, 'captured');
    assert.equal(p.amount, 99.99);
    assert.deepEqual(p.card, { last4: '4242' });

    for (const card of [DEMO_CARDS.declined, DEMO_CARDS.insufficientFunds]) {
      const declined = await pay(card);
      assert.equal(declined.status, 402);
      assert.equal(declined.headers['content-type'], 'application/problem+json');
      assert.match(declined.json().detail, /declined/);
    }
    assert.equal((await pay('12')).status, 400);

    const refund = await request(`${url('payments')}/payments/${p.transactionId}/refund`, { method: 'POST' });
    assert.equal(refund.json().status, 'refunded');
    assert.equal((await request(`${url('payments')}/payments/${p.transactionId}/refund`, { method: 'POST' })).status, 200, 'refunding again is harmless');
    assert.equal((await request(`${url('payments')}/payments/${p.transactionId}`)).json().status, 'refunded');
    assert.equal((await request(`${url('payments')}/payments/TX-0/refund`, { method: 'POST' })).status, 404);
  });

  it('sends a confirmation', async () => {
    const sent = await request(`${url('notifications')}/notifications`, json({ reservationId: 'RES-1', transactionId: 'TX-1', email: 'bob@example.com' }));
    assert.equal(sent.status, 202);
    assert.equal(sent.json().status, 'sent');
    assert.equal(sent.json().to, 'bob@example.com');
    assert.equal((await request(`${url('notifications')}/notifications`, json({ reservationId: 'RES-1' }))).status, 400);
  });

  it('records every request it answers, refusals included, but not injected failures nor health checks', async () => {
    const before = travel.calls().length;
    await request(`${url('bookings')}/health`);
    await request(`${url('bookings')}/bookings/RES-0`);
    await request(`${url('bookings')}/bookings/RES-0`, { headers: { 'x-demo-fail': '503' } });
    const calls = travel.calls().slice(before);
    assert.equal(calls.length, 1);
    assert.deepEqual({ ...calls[0], receivedAt: 0, answeredAt: 0 }, { service: 'bookings', method: 'GET', url: '/bookings/RES-0', status: 404, receivedAt: 0, answeredAt: 0 });
    assert.ok(calls[0]!.receivedAt <= calls[0]!.answeredAt);
    assert.deepEqual(travel.calls('bookings').slice(-1), calls);
  });

  it('takes faults like the shop\'s services: per request with headers, per service with /_demo/faults', async () => {
    const r = await request(`${url('pricing')}/health`, { headers: { 'x-demo-fail': '500' } });
    assert.equal(r.status, 500);
    assert.equal(r.json().service, 'pricing');
    await request(`${url('payments')}/_demo/faults`, json({ down: true }));
    try {
      assert.equal((await request(`${url('payments')}/payments/TX-1`)).status, 503);
      assert.equal((await request(`${url('bookings')}/health`)).status, 200, 'the others are unaffected');
    } finally {
      await request(`${url('payments')}/_demo/faults`, { method: 'DELETE' });
    }
    assert.equal((await request(`${url('payments')}/health`)).status, 200);
  });
});

describe('demo travel latency', () => {
  it('holds each answer for the seed latency, scaled', async () => {
    // Scale 0.5: a search (500 ms in the seed) is held at least 250 ms, as the service itself saw.
    const travel = await startTravelServices({ basePort: 0, latency: 0.5 });
    try {
      const r = await request(`${travel.url('flights')}/flights/search?from=LIS&to=BER&date=2026-05-01&userId=1`);
      assert.equal(r.status, 200);
      const [seen] = travel.calls('flights');
      assert.ok(seen!.answeredAt - seen!.receivedAt >= 249, `held ${(seen!.answeredAt - seen!.receivedAt).toFixed(1)} ms`);
    } finally {
      await travel.close();
    }
  });

  it('close() ends requests still waiting out their latency', async () => {
    const travel = await startTravelServices({ basePort: 0, latency: 'none' });
    const pending = request(`${travel.url('bookings')}/health`, { headers: { 'x-demo-delay': '60000' } });
    await new Promise((r) => setTimeout(r, 50));
    await travel.close();
    await assert.rejects(pending);
  });

  it('refuses a base port that would not fit the six services', async () => {
    await assert.rejects(startTravelServices({ basePort: 65533 }), RangeError);
  });
});
