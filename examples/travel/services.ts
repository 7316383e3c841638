/**
 * The demo travel agency: six small upstream services that reproduce the seeds' travel booking
 * waterfalls, for examples/travel/weir.yaml.
 *
 *   search:  authenticate (~100 ms) → flight search (~500 ms, ~5 flights) → price & seats per flight (~200 ms each)
 *   booking: authenticate (~100 ms) → reserve (~300 ms) → pay (~400 ms) → send the confirmation (~150 ms)
 *
 * They keep state in memory for as long as they run: search sessions, booking tokens,
 * reservations (booked or cancelled), seats left per flight, payments (captured or refunded) and
 * notifications, so a compensation (cancel a reservation, refund a payment) is something you can
 * look at afterwards with GET /bookings/{id}.
 *
 * The HTTP machinery — real node:http servers, seed latencies scaled by `latency`, failure
 * injection with the x-demo-delay / x-demo-fail / x-demo-drop headers and per-service
 * `/_demo/faults`, a close() that ends pending requests — is the demo shop's
 * (examples/shop/services.ts), and so is the auth service: same users, same tokens.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import {
  DEMO_USERS,
  HttpError,
  demoData,
  isRecord,
  latencyScale,
  listen,
  makeService,
  positiveInt,
  prng,
  readJson,
  type Ctx,
  type Endpoint,
  type RunningService,
  type ShopLatency,
  type ShopServiceName,
} from '../shop/services.js';

export { DEMO_USERS };

// ---------------------------------------------------------------------------------------------
// Public API

export type TravelServiceName = 'auth' | 'flights' | 'pricing' | 'bookings' | 'payments' | 'notifications';

export const TRAVEL_SERVICE_NAMES: readonly TravelServiceName[] = ['auth', 'flights', 'pricing', 'bookings', 'payments', 'notifications'];

export interface TravelServicesOptions {
  /** Interface to listen on. Default `127.0.0.1`. */
  host?: string;
  /** The services listen on basePort, basePort+1, … in the order of TRAVEL_SERVICE_NAMES. Default 9301; 0 puts each on a random free port. */
  basePort?: number;
  /** `'seed'` (default): the seed's latencies; `'none'`: no added latency; a number scales them (0.05 = twenty times faster). */
  latency?: ShopLatency;
}

export interface TravelService {
  name: TravelServiceName;
  /** e.g. `http://127.0.0.1:9302` (no trailing slash). */
  url: string;
}

/** One request a service answered through one of its endpoints (not /health, not /_demo/faults, not injected failures). */
export interface ObservedCall {
  service: TravelServiceName;
  method: string;
  /** Path and query as received. */
  url: string;
  /** The status it answered. */
  status: number;
  /**
   * performance.now() when the request arrived (when its latency started) and when the service
   * answered. With an `x-demo-delay` header the arrival is not seen and equals `answeredAt`.
   */
  receivedAt: number;
  answeredAt: number;
}

export interface TravelServices {
  services: TravelService[];
  /** The base URL of one service. */
  url(name: TravelServiceName): string;
  /** The requests the services answered so far, oldest first; only `service`'s when given. */
  calls(service?: TravelServiceName): ObservedCall[];
  /** Stops every server, cutting in-flight and keep-alive connections. */
  close(): Promise<void>;
}

/** Latency of each endpoint in milliseconds at scale 1: the seed's where it gives one. */
export const TRAVEL_LATENCY_MS = {
  /** auth: the demo shop's login and verify (the seed's login call). */
  verify: 100,
  search: 500,
  price: 200,
  book: 300,
  pay: 400,
  confirm: 150,
  /** Not in the seed: the undo calls and the lookups. */
  cancel: 100,
  refund: 200,
  lookup: 20,
} as const;

/** Cards for the demo: any other 12–19 digit number is accepted too. */
export const DEMO_CARDS = {
  ok: '4242424242424242',
  /** Refused by the issuer: 402. */
  declined: '4000000000000002',
  /** Refused for lack of funds: 402. */
  insufficientFunds: '4000000000009995',
} as const;

export async function startTravelServices(options: TravelServicesOptions = {}): Promise<TravelServices> {
  const host = options.host ?? '127.0.0.1';
  const basePort = options.basePort ?? 9301;
  const last = TRAVEL_SERVICE_NAMES.length - 1;
  if (!Number.isInteger(basePort) || basePort < 0 || basePort > 65535 - last) {
    throw new RangeError(`basePort must be an integer from 0 to ${65535 - last}, got ${String(basePort)}`);
  }
  const scale = latencyScale(options.latency ?? 'seed');
  const state = new TravelState();
  const log: ObservedCall[] = [];
  const started: { name: TravelServiceName; running: RunningService }[] = [];
  try {
    for (const [i, name] of TRAVEL_SERVICE_NAMES.entries()) {
      // Health checks (Weir's, every few seconds) are not recorded: they would drown the log.
      const endpoints = endpointsOf(name, state, scale).map((e) => (e.path === '/health' ? e : observed(name, e, log)));
      // listen() only uses the name in messages and the x-demo-service header; its type names the shop's services.
      const running = await listen({ name: name as ShopServiceName, endpoints, scale }, host, basePort === 0 ? 0 : basePort + i);
      started.push({ name, running });
    }
  } catch (err) {
    await Promise.all(started.map((s) => s.running.close()));
    throw err;
  }
  const services = started.map((s) => ({ name: s.name, url: s.running.url }));
  let closing: Promise<void> | undefined;
  return {
    services,
    url: (name) => services.find((s) => s.name === name)!.url,
    calls: (service) => log.filter((c) => service === undefined || c.service === service),
    close: () => (closing ??= Promise.all(started.map((s) => s.running.close())).then(() => undefined)),
  };
}

// ---------------------------------------------------------------------------------------------
// Data

export interface Flight {
  flightId: string;
  airline: string;
  flightNumber: string;
  from: string;
  to: string;
  departure: string;
  arrival: string;
  durationMinutes: number;
}

export interface Offer {
  flightId: string;
  price: { amount: number; currency: 'EUR' };
  seatsLeft: number;
  /** Give it to POST /bookings to book this flight at this price. */
  bookingToken: string;
}

export interface Reservation {
  reservationId: string;
  status: 'booked' | 'cancelled';
  userId: number;
  flight: Flight;
  price: Offer['price'];
  passenger: { name: string; email: string };
  bookedAt: string;
  cancelledAt?: string;
}

export interface Payment {
  transactionId: string;
  status: 'captured' | 'refunded';
  reservationId: string;
  amount: number;
  currency: string;
  card: { last4: string };
  refundedAt?: string;
}

const AIRLINES: readonly [code: string, name: string][] = [
  ['TP', 'TAP Air Portugal'],
  ['LH', 'Lufthansa'],
  ['AF', 'Air France'],
  ['KL', 'KLM'],
  ['IB', 'Iberia'],
  ['SK', 'SAS'],
  ['AZ', 'ITA Airways'],
];

const FLIGHTS_PER_SEARCH = 5;

/** FNV-1a: a stable seed from text, so a route and date always give the same flights. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** The flights of a route on a day: the same on every run. */
function flightsOn(from: string, to: string, date: string): Flight[] {
  const rand = prng(hash(`${from}>${to}@${date}`));
  const int = (min: number, max: number): number => min + Math.floor(rand() * (max - min + 1));
  const day = Date.parse(`${date}T00:00:00Z`);
  const flights: Flight[] = [];
  for (let n = 0; n < FLIGHTS_PER_SEARCH; n++) {
    const [code, airline] = AIRLINES[int(0, AIRLINES.length - 1)]!;
    const flightNumber = `${code}${n * 1000 + int(100, 999)}`; // distinct per slot
    // Spread over the day: one departure in each slot of ~3 hours from 06:00.
    const departs = day + ((6 + n * 3) * 60 + int(0, 150)) * 60_000;
    const durationMinutes = int(85, 260);
    flights.push({
      flightId: `${flightNumber}-${date}`,
      airline,
      flightNumber,
      from,
      to,
      departure: new Date(departs).toISOString(),
      arrival: new Date(departs + durationMinutes * 60_000).toISOString(),
      durationMinutes,
    });
  }
  return flights;
}

/** Everything the services remember while they run. One instance per startTravelServices(). */
class TravelState {
  readonly sessions = new Map<string, { userId: number; flights: Map<string, Flight> }>();
  /** bookingToken → what it books, and the reservation holding it while booked. */
  readonly offers = new Map<string, { flight: Flight; price: Offer['price']; userId: number; reservationId?: string }>();
  /** Seats left per flightId, set the first time the flight is priced. */
  readonly seats = new Map<string, number>();
  readonly reservations = new Map<string, Reservation>();
  readonly payments = new Map<string, Payment>();
  readonly notifications: { notificationId: string; reservationId: string; transactionId: string; to: string }[] = [];
  private nextReservation = 1001;
  private nextTransaction = 5001;

  reservationId(): string {
    return `RES-${this.nextReservation++}`;
  }

  transactionId(): string {
    return `TX-${this.nextTransaction++}`;
  }

  /** The price of a flight (stable) and its seats left (falls as seats are booked). */
  quote(flight: Flight): { price: Offer['price']; seatsLeft: number } {
    const rand = prng(hash(flight.flightId));
    const amount = 49 + Math.floor(rand() * 320) + 0.99;
    if (!this.seats.has(flight.flightId)) this.seats.set(flight.flightId, 2 + Math.floor(rand() * 30));
    return { price: { amount, currency: 'EUR' }, seatsLeft: this.seats.get(flight.flightId)! };
  }
}

// ---------------------------------------------------------------------------------------------
// The services

const IATA = /^[A-Z]{3}$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;
const now = (): string => new Date().toISOString();

function text(value: unknown, what: string, max = 200): string {
  if (typeof value !== 'string' || value.trim() === '' || value.length > max) throw new HttpError(400, `${what} must be a non-empty string of at most ${max} characters`);
  return value;
}

function found<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new HttpError(404, `no ${what}`);
  return value;
}

/** The entry of `map` that the path's `:id` names, or 404. */
function byId<T>(map: Map<string, T>, params: string[], what: string): T {
  const id = params[0] ?? '';
  return found(map.get(id), `${what} ${id}`);
}

function endpointsOf(name: TravelServiceName, state: TravelState, scale: number): Endpoint[] {
  const L = TRAVEL_LATENCY_MS;
  const health: Endpoint = { method: 'GET', path: '/health', latency: () => 0, handle: () => ({ body: { status: 'ok', service: name } }) };
  switch (name) {
    case 'auth':
      // The shop's: POST /auth/login {user, password} → {token, userId}; GET /auth/verify → {userId} or 401.
      return makeService('auth', demoData(), scale).endpoints;

    case 'flights':
      return [
        health,
        {
          // ?from=LIS&to=BER&date=2026-05-01&userId=1 → {searchSessionId, flights}. The session
          // belongs to the user; the pricing service prices only flights of a session.
          method: 'GET',
          path: '/flights/search',
          latency: () => L.search,
          handle: ({ url }) => {
            const q = url.searchParams;
            const from = (q.get('from') ?? '').toUpperCase();
            const to = (q.get('to') ?? '').toUpperCase();
            const date = q.get('date') ?? '';
            if (!IATA.test(from) || !IATA.test(to)) throw new HttpError(400, 'from and to must be 3-letter airport codes, e.g. from=LIS&to=BER');
            if (from === to) throw new HttpError(400, 'from and to must differ');
            if (!DATE.test(date) || Number.isNaN(Date.parse(`${date}T00:00:00Z`))) throw new HttpError(400, 'date must be a day as YYYY-MM-DD');
            const userId = positiveInt(q.get('userId'), 'userId');
            const flights = flightsOn(from, to, date);
            const searchSessionId = `ss_${randomUUID()}`;
            state.sessions.set(searchSessionId, { userId, flights: new Map(flights.map((f) => [f.flightId, f])) });
            return { body: { searchSessionId, flights } };
          },
        },
      ];

    case 'pricing':
      return [
        health,
        {
          // /pricing/TP1234-2026-05-01?searchSessionId=… → {flightId, price, seatsLeft, bookingToken}
          method: 'GET',
          path: '/pricing/:flightId',
          latency: () => L.price,
          handle: ({ url, params }) => {
            const sessionId = url.searchParams.get('searchSessionId');
            if (sessionId === null) throw new HttpError(400, 'give ?searchSessionId= from a flight search');
            const session = found(state.sessions.get(sessionId), `search session ${sessionId}`);
            const flight = found(session.flights.get(params[0] ?? ''), `flight ${params[0] ?? ''} in this search session`);
            const { price, seatsLeft } = state.quote(flight);
            const bookingToken = `bt_${randomUUID()}`;
            state.offers.set(bookingToken, { flight, price, userId: session.userId });
            const offer: Offer = { flightId: flight.flightId, price, seatsLeft, bookingToken };
            return { body: offer };
          },
        },
      ];

    case 'bookings':
      return [
        health,
        {
          // {bookingToken, userId, passenger: {name, email}} → 201 the reservation, status "booked"
          method: 'POST',
          path: '/bookings',
          latency: () => L.book,
          handle: async ({ req }) => {
            const body = await readJson(req);
            if (!isRecord(body) || !isRecord(body.passenger)) throw new HttpError(400, 'expected {"bookingToken", "userId", "passenger": {"name", "email"}}');
            const passenger = { name: text(body.passenger.name, 'passenger.name'), email: text(body.passenger.email, 'passenger.email') };
            if (!passenger.email.includes('@')) throw new HttpError(400, 'passenger.email must be an email address');
            const userId = positiveInt(typeof body.userId === 'number' ? String(body.userId) : undefined, 'userId');
            const offer = state.offers.get(text(body.bookingToken, 'bookingToken'));
            if (!offer) throw new HttpError(422, 'unknown bookingToken: search and price the flight again');
            if (offer.userId !== userId) throw new HttpError(403, 'this bookingToken was issued to another user');
            if (offer.reservationId !== undefined) throw new HttpError(409, `this bookingToken is already booked as ${offer.reservationId}`);
            const seatsLeft = state.quote(offer.flight).seatsLeft;
            if (seatsLeft === 0) throw new HttpError(409, `flight ${offer.flight.flightId} is full`);
            state.seats.set(offer.flight.flightId, seatsLeft - 1);
            const reservation: Reservation = {
              reservationId: state.reservationId(),
              status: 'booked',
              userId,
              flight: offer.flight,
              price: offer.price,
              passenger,
              bookedAt: now(),
            };
            offer.reservationId = reservation.reservationId;
            state.reservations.set(reservation.reservationId, reservation);
            return { status: 201, body: reservation };
          },
        },
        {
          // ?userId=1 → that user's reservations, newest first (without: all of them)
          method: 'GET',
          path: '/bookings',
          latency: () => L.lookup,
          handle: ({ url }) => {
            const param = url.searchParams.get('userId');
            const userId = param === null ? undefined : positiveInt(param, 'userId');
            const list = [...state.reservations.values()].filter((r) => userId === undefined || r.userId === userId).reverse();
            return { body: list };
          },
        },
        {
          method: 'GET',
          path: '/bookings/:id',
          latency: () => L.lookup,
          handle: ({ params }) => ({ body: byId(state.reservations, params, 'reservation') }),
        },
        {
          // Cancels: the seat goes back on sale and the bookingToken can book again. Cancelling a
          // cancelled reservation changes nothing and answers 200 too, so an undo can be retried.
          method: 'DELETE',
          path: '/bookings/:id',
          latency: () => L.cancel,
          handle: ({ req, params }) => {
            req.resume();
            const reservation = byId(state.reservations, params, 'reservation');
            if (reservation.status === 'booked') {
              reservation.status = 'cancelled';
              reservation.cancelledAt = now();
              const flightId = reservation.flight.flightId;
              state.seats.set(flightId, (state.seats.get(flightId) ?? 0) + 1);
              for (const offer of state.offers.values()) if (offer.reservationId === reservation.reservationId) delete offer.reservationId;
            }
            return { body: reservation };
          },
        },
      ];

    case 'payments':
      return [
        health,
        {
          // {reservationId, amount, currency, payment: {cardNumber}} → 201 {transactionId, status: "captured", …}
          method: 'POST',
          path: '/payments',
          latency: () => L.pay,
          handle: async ({ req }) => {
            const body = await readJson(req);
            if (!isRecord(body) || !isRecord(body.payment)) throw new HttpError(400, 'expected {"reservationId", "amount", "currency", "payment": {"cardNumber"}}');
            const reservationId = text(body.reservationId, 'reservationId');
            if (typeof body.amount !== 'number' || !(body.amount > 0)) throw new HttpError(400, 'amount must be a positive number');
            const currency = text(body.currency, 'currency', 3);
            const cardNumber = typeof body.payment.cardNumber === 'string' ? body.payment.cardNumber.replace(/[\s-]/g, '') : '';
            if (!/^\d{12,19}$/.test(cardNumber)) throw new HttpError(400, 'payment.cardNumber must be 12 to 19 digits');
            if (cardNumber === DEMO_CARDS.declined) throw new HttpError(402, 'card declined by the issuer (generic_decline)');
            if (cardNumber === DEMO_CARDS.insufficientFunds) throw new HttpError(402, 'card declined: insufficient funds');
            const payment: Payment = {
              transactionId: state.transactionId(),
              status: 'captured',
              reservationId,
              amount: body.amount,
              currency,
              card: { last4: cardNumber.slice(-4) },
            };
            state.payments.set(payment.transactionId, payment);
            return { status: 201, body: payment };
          },
        },
        {
          method: 'GET',
          path: '/payments/:id',
          latency: () => L.lookup,
          handle: ({ params }) => ({ body: byId(state.payments, params, 'payment') }),
        },
        {
          // Refunds in full; refunding a refunded payment changes nothing and answers 200 too.
          method: 'POST',
          path: '/payments/:id/refund',
          latency: () => L.refund,
          handle: ({ req, params }) => {
            req.resume();
            const payment = byId(state.payments, params, 'payment');
            if (payment.status === 'captured') {
              payment.status = 'refunded';
              payment.refundedAt = now();
            }
            return { body: payment };
          },
        },
      ];

    case 'notifications':
      return [
        health,
        {
          // {reservationId, transactionId, email} → 202 {notificationId, status: "sent", to}
          method: 'POST',
          path: '/notifications',
          latency: () => L.confirm,
          handle: async ({ req }) => {
            const body = await readJson(req);
            if (!isRecord(body)) throw new HttpError(400, 'expected {"reservationId", "transactionId", "email"}');
            const sent = {
              notificationId: `N-${state.notifications.length + 1}`,
              reservationId: text(body.reservationId, 'reservationId'),
              transactionId: text(body.transactionId, 'transactionId'),
              to: text(body.email, 'email'),
            };
            state.notifications.push(sent);
            return { status: 202, body: { ...sent, channel: 'email', status: 'sent' } };
          },
        },
      ];
  }
}

/** The endpoint, recording each request it answers (refusals included) in `log`. */
function observed(service: TravelServiceName, endpoint: Endpoint, log: ObservedCall[]): Endpoint {
  // The latency is asked for when the request arrives, before the service holds it.
  const arrivals = new WeakMap<IncomingMessage, number>();
  const record = (ctx: Ctx, status: number): void => {
    const answeredAt = performance.now();
    const url = ctx.url.pathname + ctx.url.search;
    log.push({ service, method: ctx.req.method ?? '?', url, status, receivedAt: arrivals.get(ctx.req) ?? answeredAt, answeredAt });
  };
  return {
    ...endpoint,
    latency: (ctx) => {
      arrivals.set(ctx.req, performance.now());
      return endpoint.latency(ctx);
    },
    handle: async (ctx) => {
      try {
        const reply = await endpoint.handle(ctx);
        record(ctx, reply.status ?? 200);
        return reply;
      } catch (err) {
        record(ctx, err instanceof HttpError ? err.status : 500);
        throw err;
      }
    },
  };
}
