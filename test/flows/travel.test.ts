import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { DEMO_CARDS, DEMO_USERS, TRAVEL_SERVICE_NAMES, startTravelServices, type TravelServices } from '../../examples/travel/services.js';
import { call, startWeir, type TestWeir } from '../support/weir.js';

/** The bundled travel example, pointed at its demo services on random ports (seed latencies × 0.05). */
describe('examples/travel flows', () => {
  let travel: TravelServices;
  let weir: TestWeir;
  let token: string;
  /** Each test books from its own search, so bookingTokens are fresh; a distinct day avoids the search cache. */
  let day = 1;

  before(async () => {
    travel = await startTravelServices({ basePort: 0, latency: 0.05 });
    let yaml = readFileSync(new URL('../../examples/travel/weir.yaml', import.meta.url), 'utf8');
    for (const [i, name] of TRAVEL_SERVICE_NAMES.entries()) yaml = yaml.replaceAll(`http://127.0.0.1:${9301 + i}`, travel.url(name));
    weir = await startWeir(yaml);
    const user = DEMO_USERS[0]!;
    const login = await call(`${weir.url}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: user.user, password: user.password }) });
    assert.equal(login.status, 200, login.body);
    token = login.json().token;
  });
  after(async () => {
    await weir.close();
    await travel.close();
  });

  let calls0 = 0;
  beforeEach(() => {
    calls0 = travel.calls().length;
  });
  /** What the services answered since the test began, as "service METHOD /path". */
  const seen = (service?: (typeof TRAVEL_SERVICE_NAMES)[number]) =>
    travel.calls().slice(calls0).filter((c) => service === undefined || c.service === service).map((c) => `${c.service} ${c.method} ${c.url.split('?')[0]}`);

  const search = (date: string, auth = `Bearer ${token}`) =>
    call(`${weir.url}/travel/flights/search?from=LIS&to=BER&date=${date}`, { headers: { authorization: auth } });

  const nextDate = () => `2026-06-${String(day++).padStart(2, '0')}`;

  /** A fresh bookingToken: a search on a day no other test used, first flight. */
  async function bookingToken(): Promise<string> {
    const res = await search(nextDate());
    assert.equal(res.status, 200, res.body);
    return res.json().flights[0].bookingToken;
  }

  const book = (body: unknown, key: string | undefined) =>
    call(`${weir.url}/travel/bookings`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...(key === undefined ? {} : { 'idempotency-key': key }) },
      body: JSON.stringify(body),
    });

  const passenger = { name: 'Alice Example', email: 'alice@example.com' };
  const reservation = async (id: string) => (await call(`${travel.url('bookings')}/bookings/${id}`)).json();

  it('searches: priced flights, with the pricing calls of the flights in flight at the same time', async () => {
    // Each price takes 10 ms at this scale; hold them 250 ms more here, so that a busy machine
    // starting the five calls a few milliseconds apart cannot hide that they overlap.
    const faults = `${travel.url('pricing')}/_demo/faults`;
    await call(faults, { method: 'POST', body: JSON.stringify({ extraDelayMs: 250 }) });
    const res = await search(nextDate()).finally(() => call(faults, { method: 'DELETE' }));
    assert.equal(res.status, 200, res.body);
    const body = res.json();
    assert.match(body.searchSessionId, /^ss_/);
    assert.equal(body.flights.length, 5);
    for (const f of body.flights) {
      assert.equal(f.from, 'LIS');
      assert.equal(f.to, 'BER');
      assert.equal(typeof f.flightId, 'string');
      assert.equal(typeof f.departure, 'string', 'the flight details of the search…');
      assert.equal(f.price.currency, 'EUR', '…merged with the offer of the pricing service');
      assert.ok(f.price.amount > 0);
      assert.equal(typeof f.seatsLeft, 'number');
      assert.match(f.bookingToken, /^bt_/);
    }
    const calls = seen();
    assert.deepEqual(calls.slice(0, 2), ['auth GET /auth/verify', 'flights GET /flights/search']);
    assert.deepEqual(calls.slice(2).sort(), body.flights.map((f: { flightId: string }) => `pricing GET /pricing/${f.flightId}`).sort(), 'one pricing call per flight');

    // Overlap, from the pricing service's own clock: the last price request arrived before the
    // first one was answered, so all five were being worked on at once.
    const pricing = travel.calls('pricing').slice(-5);
    const lastArrival = Math.max(...pricing.map((c) => c.receivedAt));
    const firstAnswer = Math.min(...pricing.map((c) => c.answeredAt));
    assert.ok(lastArrival < firstAnswer, `pricing calls overlapped (last arrived ${lastArrival.toFixed(1)}, first answered ${firstAnswer.toFixed(1)})`);
    // And the search began only after the token was verified.
    const [verify] = travel.calls('auth').slice(-1);
    const [searched] = travel.calls('flights').slice(-1);
    assert.ok(searched!.receivedAt >= verify!.answeredAt, 'search waits for auth');
    assert.match(String(res.headers['server-timing']), /auth;dur=.*search;dur=[\d.]+;desc="ok 200 cache=miss".*prices;dur=/);
  });

  it('refuses a bad token with the auth service\'s 401, before any search', async () => {
    const res = await search(nextDate(), 'Bearer demo.1.forgedforgedforgedforged');
    assert.equal(res.status, 401);
    assert.equal(res.headers['content-type'], 'application/problem+json');
    assert.equal(res.json().failedStep, 'auth');
    assert.deepEqual(seen(), ['auth GET /auth/verify']);
  });

  it('answers a repeated search from the cache: same session, one search call, fresh prices', async () => {
    const date = nextDate();
    const first = await search(date);
    const again = await search(date);
    assert.equal(again.status, 200, again.body);
    assert.equal(again.json().searchSessionId, first.json().searchSessionId);
    assert.match(String(again.headers['server-timing']), /search;dur=[\d.]+;desc="ok cache=hit"/);
    assert.equal(seen('flights').length, 1);
    assert.equal(seen('pricing').length, 10, 'prices are asked for every time');
    assert.notEqual(again.json().flights[0].bookingToken, first.json().flights[0].bookingToken);
  });

  it('books: 201 with the reservation, the payment and the confirmation; the reservation stays booked', async () => {
    const res = await book({ bookingToken: await bookingToken(), passenger, payment: { cardNumber: DEMO_CARDS.ok } }, 'book-ok-1');
    assert.equal(res.status, 201, res.body);
    const body = res.json();
    assert.match(body.reservationId, /^RES-\d+$/);
    assert.equal(body.status, 'booked');
    assert.deepEqual(body.passenger, passenger);
    assert.equal(body.payment.status, 'captured');
    assert.deepEqual(body.payment.card, { last4: '4242' });
    assert.equal(body.confirmationSent, true);
    assert.deepEqual(seen().slice(-4), ['auth GET /auth/verify', 'bookings POST /bookings', 'payments POST /payments', 'notifications POST /notifications']);
    assert.equal((await reservation(body.reservationId)).status, 'booked');
  });

  it('cancels the reservation when the card is declined: 402 problem+json naming what was undone', async () => {
    const res = await book({ bookingToken: await bookingToken(), passenger, payment: { cardNumber: DEMO_CARDS.declined } }, 'book-declined-1');
    assert.equal(res.status, 402, res.body);
    assert.equal(res.headers['content-type'], 'application/problem+json');
    const problem = res.json();
    assert.equal(problem.code, 'WEIR_STEP_FAILED');
    assert.equal(problem.failedStep, 'payment');
    assert.deepEqual(problem.compensations.map((c: { step: string; status: string }) => [c.step, c.status]), [['booking', 'compensated']]);
    assert.match(String(res.headers['server-timing']), /booking\.compensate;dur=[\d.]+;desc="ok 200"/);

    const calls = seen();
    assert.ok(!calls.some((s) => s.startsWith('notifications')), 'no confirmation for a failed booking');
    assert.ok(!calls.some((s) => s.includes('/refund')), 'nothing was charged, so nothing is refunded');
    // The reservation made by this request (the user's newest) was cancelled by Weir, and is still there to see.
    const id = (await call(`${travel.url('bookings')}/bookings?userId=1`)).json()[0].reservationId;
    assert.deepEqual(calls.filter((s) => s.startsWith('bookings')), ['bookings POST /bookings', `bookings DELETE /bookings/${id}`]);
    const cancelled = await reservation(id);
    assert.equal(cancelled.status, 'cancelled');
    assert.equal(typeof cancelled.cancelledAt, 'string');
  });

  it('cancels the reservation when the payment service is down, and answers 502', async () => {
    const token = await bookingToken();
    const faults = `${travel.url('payments')}/_demo/faults`;
    await call(faults, { method: 'POST', body: JSON.stringify({ failRate: 1, status: 503 }) });
    try {
      const res = await book({ bookingToken: token, passenger, payment: { cardNumber: DEMO_CARDS.ok } }, 'book-outage-1');
      assert.equal(res.status, 502, res.body);
      assert.equal(res.json().failedStep, 'payment');
      assert.deepEqual(res.json().compensations.map((c: { step: string }) => c.step), ['booking']);
    } finally {
      await call(faults, { method: 'DELETE' });
    }
    const id = (await call(`${travel.url('bookings')}/bookings?userId=1`)).json()[0].reservationId;
    assert.equal((await reservation(id)).status, 'cancelled');
    // The cancellation gave the bookingToken back: the traveller can pay again (with a new key).
    const retry = await book({ bookingToken: token, passenger, payment: { cardNumber: DEMO_CARDS.ok } }, 'book-outage-2');
    assert.equal(retry.status, 201, retry.body);
  });

  it('still books when the confirmation cannot be sent, saying so', async () => {
    const faults = `${travel.url('notifications')}/_demo/faults`;
    await call(faults, { method: 'POST', body: JSON.stringify({ down: true }) });
    try {
      const res = await book({ bookingToken: await bookingToken(), passenger, payment: { cardNumber: DEMO_CARDS.ok } }, 'book-no-mail-1');
      assert.equal(res.status, 201, res.body);
      assert.equal(res.headers['weir-failed-steps'], 'confirmation');
      const body = res.json();
      assert.equal(body.confirmationSent, false);
      assert.equal(body._errors[0].step, 'confirmation');
      assert.equal((await reservation(body.reservationId)).status, 'booked', 'an optional step failing undoes nothing');
      assert.ok(!seen().some((s) => s.includes('DELETE') || s.includes('/refund')));
    } finally {
      await call(faults, { method: 'DELETE' });
    }
  });

  it('replays a retried booking with the same Idempotency-Key instead of booking twice', async () => {
    const body = { bookingToken: await bookingToken(), passenger, payment: { cardNumber: DEMO_CARDS.ok } };
    const first = await book(body, 'trip-42');
    const again = await book(body, 'trip-42');
    assert.equal(first.status, 201, first.body);
    assert.equal(again.status, 201);
    assert.deepEqual(again.json(), first.json());
    assert.equal(again.headers['idempotent-replayed'], 'true');
    assert.equal(first.headers['idempotent-replayed'], undefined);
    assert.equal(seen('bookings').filter((s) => s.startsWith('bookings POST')).length, 1, 'one booking');
    assert.equal(seen('payments').length, 1, 'one charge');
  });

  it('refuses a booking without an Idempotency-Key (400) and calls nothing', async () => {
    const res = await book({ bookingToken: 'bt_x', passenger, payment: { cardNumber: DEMO_CARDS.ok } }, undefined);
    assert.equal(res.status, 400);
    assert.equal(res.json().code, 'WEIR_IDEMPOTENCY_KEY_MISSING');
    assert.deepEqual(seen(), []);
  });
});
