/**
 * The demo shop: three small upstream services (auth, orders, catalog) that the README's
 * `npm start` puts behind Weir. They reproduce the e-commerce order-details waterfall of the
 * seeds (authenticate ~100 ms → order list ~150 ms → order detail ~200 ms → product per item
 * ~120 ms) with deterministic data, and let a user inject failures from curl without a restart.
 *
 * These are demo servers, not Weir: plain node:http with a tiny hand-written matcher.
 *
 * Fault injection, on every request except /_demo/*:
 *   x-demo-delay: <ms>     hold the response this long instead of the endpoint's latency
 *   x-demo-fail: <status>  answer that status (400–599) with a problem+json body
 *   x-demo-drop: 1         destroy the socket without answering
 * and per service, `POST /_demo/faults` {failRate, status, extraDelayMs, down} (merged into the
 * current settings), `GET /_demo/faults`, `DELETE /_demo/faults` (back to no faults).
 * The delay (latency or x-demo-delay, plus extraDelayMs) always comes first; then the request is
 * dropped, failed or answered. `down: true` answers 503 at once, /health included.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

// ---------------------------------------------------------------------------------------------
// Public API

export type ShopLatency = 'seed' | 'none' | number;

export interface ShopServicesOptions {
  /** Interface to listen on. Default `127.0.0.1`. */
  host?: string;
  /** auth listens on basePort, orders on basePort+1, catalog on basePort+2. Default 9101; 0 puts each service on a random free port. */
  basePort?: number;
  /** `'seed'` (default): the seed table's latencies; `'none'`: no added latency; a number scales the seed latencies (0.1 = ten times faster). */
  latency?: ShopLatency;
}

export interface ShopService {
  name: ShopServiceName;
  /** e.g. `http://127.0.0.1:9101` (no trailing slash). */
  url: string;
}

export interface ShopServices {
  services: ShopService[];
  /** Stops all three servers, cutting in-flight and keep-alive connections. */
  close(): Promise<void>;
}

export type ShopServiceName = 'auth' | 'orders' | 'catalog';

/** The demo accounts (the demo data is fixed: these work against every run). */
export const DEMO_USERS: readonly { readonly userId: number; readonly user: string; readonly password: string }[] = [
  { userId: 1, user: 'alice', password: 'alice-demo' },
  { userId: 2, user: 'bob', password: 'bob-demo' },
  { userId: 3, user: 'carol', password: 'carol-demo' },
];

/** Latency of each endpoint in milliseconds at scale 1 (the seed table). */
export const SEED_LATENCY_MS = {
  login: 100,
  verify: 100,
  orderList: 150,
  orderDetail: 200,
  product: 120,
  productBatch: 120,
  /** Added to productBatch for each id asked for. */
  productBatchPerId: 2,
} as const;

export async function startShopServices(options: ShopServicesOptions = {}): Promise<ShopServices> {
  const host = options.host ?? '127.0.0.1';
  const basePort = options.basePort ?? 9101;
  if (!Number.isInteger(basePort) || basePort < 0 || basePort > 65533) {
    throw new RangeError(`basePort must be an integer from 0 to 65533, got ${String(basePort)}`);
  }
  const scale = latencyScale(options.latency ?? 'seed');
  const data = demoData();
  const names: ShopServiceName[] = ['auth', 'orders', 'catalog'];
  const started: RunningService[] = [];
  try {
    for (const [i, name] of names.entries()) {
      started.push(await listen(makeService(name, data, scale), host, basePort === 0 ? 0 : basePort + i));
    }
  } catch (err) {
    await Promise.all(started.map((s) => s.close()));
    throw err;
  }
  let closing: Promise<void> | undefined;
  return {
    services: started.map((s) => ({ name: s.name, url: s.url })),
    close: () => (closing ??= Promise.all(started.map((s) => s.close())).then(() => undefined)),
  };
}

// ---------------------------------------------------------------------------------------------
// Demo data (deterministic: a seeded PRNG, no clock)

export interface Product {
  id: number;
  name: string;
  description: string;
  imageUrl: string;
  price: number;
}

export interface OrderSummary {
  id: number;
  date: string;
  total: number;
}

export interface Order {
  id: number;
  userId: number;
  date: string;
  status: 'processing' | 'shipped' | 'delivered';
  items: { productId: number; quantity: number }[];
  shipping: { method: 'standard' | 'express'; cost: number; address: { name: string; city: string; country: string } };
  total: number;
}

export interface DemoData {
  products: Map<number, Product>;
  orders: Map<number, Order>;
  ordersByUser: Map<number, Order[]>;
}

/** mulberry32: tiny, fast, good enough for demo data. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ADJECTIVES = ['Ergonomic', 'Rustic', 'Sleek', 'Compact', 'Vintage', 'Quiet', 'Sturdy', 'Featherlight', 'Modular', 'Weatherproof'];
const NOUNS = ['Kettle', 'Backpack', 'Desk Lamp', 'Headphones', 'Water Bottle', 'Notebook', 'Chair', 'Umbrella', 'Keyboard', 'Mug', 'Tent', 'Bicycle Bell'];
const MATERIALS = ['recycled aluminium', 'oak', 'stainless steel', 'organic cotton', 'bamboo', 'ceramic'];
const CITIES: [string, string][] = [['Lisbon', 'PT'], ['Lyon', 'FR'], ['Leipzig', 'DE'], ['Utrecht', 'NL'], ['Turin', 'IT']];

const cents = (n: number): number => Math.round(n * 100) / 100;

let cachedData: DemoData | undefined;

export function demoData(): DemoData {
  if (cachedData) return cachedData;
  const rand = prng(0x5eed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)] as T;
  const int = (min: number, max: number): number => min + Math.floor(rand() * (max - min + 1));

  const products = new Map<number, Product>();
  for (let id = 1; id <= 30; id++) {
    const name = `${pick(ADJECTIVES)} ${pick(NOUNS)}`;
    products.set(id, {
      id,
      name,
      description: `${name} in ${pick(MATERIALS)}. Demo product #${id}.`,
      imageUrl: `https://images.example.com/products/${id}.jpg`,
      price: cents(int(5, 250) - 0.01),
    });
  }

  const orders = new Map<number, Order>();
  const ordersByUser = new Map<number, Order[]>();
  const day0 = Date.UTC(2026, 0, 5, 9, 0, 0);
  let orderId = 1001;
  for (const { userId, user } of DEMO_USERS) {
    const [city, country] = pick(CITIES);
    const list: Order[] = [];
    for (let n = 0; n < 5; n++) {
      const productIds = new Set<number>();
      const itemCount = int(2, 5);
      while (productIds.size < itemCount) productIds.add(int(1, 30));
      const items = [...productIds].map((productId) => ({ productId, quantity: int(1, 3) }));
      const method = rand() < 0.3 ? 'express' : 'standard';
      const cost = method === 'express' ? 12.5 : 4.9;
      const subtotal = items.reduce((sum, it) => sum + (products.get(it.productId)?.price ?? 0) * it.quantity, 0);
      const date = new Date(day0 + (n * 17 + int(0, 12)) * 86_400_000 + int(0, 36_000) * 1000).toISOString();
      const status = n < 3 ? 'delivered' : n === 3 ? 'shipped' : 'processing';
      const order: Order = {
        id: orderId++,
        userId,
        date,
        status,
        items,
        shipping: { method, cost, address: { name: user.charAt(0).toUpperCase() + user.slice(1), city, country } },
        total: cents(subtotal + cost),
      };
      orders.set(order.id, order);
      list.push(order);
    }
    list.sort((a, b) => (a.date < b.date ? 1 : -1)); // newest first
    ordersByUser.set(userId, list);
  }
  cachedData = { products, orders, ordersByUser };
  return cachedData;
}

// Tokens are stateless (HMAC of the user id) so every service can check them and they survive a
// restart of the demo. A demo secret: this is not how to do authentication.
const TOKEN_SECRET = 'weir-demo-shop';

function tokenFor(userId: number): string {
  const mac = createHmac('sha256', TOKEN_SECRET).update(String(userId)).digest('base64url').slice(0, 22);
  return `demo.${userId}.${mac}`;
}

function userFromAuthorization(header: string | undefined): number | undefined {
  const match = header === undefined ? null : /^Bearer\s+(demo\.(\d{1,9})\.[A-Za-z0-9_-]{22})$/i.exec(header.trim());
  if (!match) return undefined;
  const userId = Number(match[2]);
  const given = Buffer.from(match[1] ?? '');
  const expected = Buffer.from(tokenFor(userId));
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
  return DEMO_USERS.some((u) => u.userId === userId) ? userId : undefined;
}

// ---------------------------------------------------------------------------------------------
// HTTP plumbing

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly detail: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(detail);
  }
}

export interface Reply {
  status?: number;
  body: unknown;
}

export interface Ctx {
  req: IncomingMessage;
  url: URL;
  /** Path segments after the first, e.g. ['42'] for /products/42. */
  params: string[];
}

export interface Endpoint {
  method: 'GET' | 'POST' | 'DELETE';
  /** `/products/:id` style; only `:name` segments are parameters. */
  path: string;
  /** Added latency at scale 1 (ms); may depend on the request. */
  latency: (ctx: Ctx) => number;
  handle: (ctx: Ctx) => Reply | Promise<Reply>;
}

interface Faults {
  failRate: number;
  status: number;
  extraDelayMs: number;
  down: boolean;
}

const NO_FAULTS: Faults = { failRate: 0, status: 503, extraDelayMs: 0, down: false };

export interface RunningService {
  name: ShopServiceName;
  url: string;
  close(): Promise<void>;
}

export function latencyScale(latency: ShopLatency): number {
  if (latency === 'seed') return 1;
  if (latency === 'none') return 0;
  if (typeof latency === 'number' && Number.isFinite(latency) && latency >= 0) return latency;
  throw new RangeError(`latency must be 'seed', 'none' or a non-negative number, got ${String(latency)}`);
}

function send(res: ServerResponse, status: number, body: unknown, service: string, extra: Record<string, string> = {}): void {
  const isProblem = status >= 400;
  const payload = Buffer.from(JSON.stringify(body));
  res.writeHead(status, {
    ...extra,
    'content-type': isProblem ? 'application/problem+json' : 'application/json',
    'content-length': String(payload.length),
    'x-demo-service': service,
  });
  res.end(payload);
}

function problem(status: number, detail: string, service: string, instance?: string): Record<string, unknown> {
  const body: Record<string, unknown> = { type: 'about:blank', title: STATUS_CODES[status] ?? 'Error', status, detail, service };
  if (instance !== undefined) body.instance = instance;
  return body;
}

const MAX_BODY = 64 * 1024;

export async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) throw new HttpError(413, `request body is larger than ${MAX_BODY} bytes`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') throw new HttpError(400, 'expected a JSON body');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new HttpError(400, 'the body is not valid JSON');
  }
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function positiveInt(text: string | undefined | null, what: string): number {
  if (text === undefined || text === null || !/^[0-9]{1,9}$/.test(text)) throw new HttpError(400, `${what} must be a positive integer`);
  return Number(text);
}

// ---------------------------------------------------------------------------------------------
// The three services

export function makeService(name: ShopServiceName, data: DemoData, scale: number): { name: ShopServiceName; endpoints: Endpoint[]; scale: number } {
  const L = SEED_LATENCY_MS;
  const health: Endpoint = { method: 'GET', path: '/health', latency: () => 0, handle: () => ({ body: { status: 'ok', service: name } }) };
  switch (name) {
    case 'auth':
      return {
        name,
        scale,
        endpoints: [
          health,
          {
            method: 'POST',
            path: '/auth/login',
            latency: () => L.login,
            handle: async ({ req }) => {
              const body = await readJson(req);
              if (!isRecord(body) || typeof body.user !== 'string' || typeof body.password !== 'string') {
                throw new HttpError(400, 'expected {"user": string, "password": string}');
              }
              const account = DEMO_USERS.find((u) => u.user === body.user && u.password === body.password);
              if (!account) throw new HttpError(401, 'unknown user or wrong password');
              return { body: { token: tokenFor(account.userId), userId: account.userId } };
            },
          },
          {
            method: 'GET',
            path: '/auth/verify',
            latency: () => L.verify,
            handle: ({ req }) => {
              const userId = userFromAuthorization(req.headers.authorization);
              if (userId === undefined) {
                throw new HttpError(401, 'missing or invalid bearer token', { 'www-authenticate': 'Bearer realm="weir-demo"' });
              }
              return { body: { userId } };
            },
          },
        ],
      };
    case 'orders':
      return {
        name,
        scale,
        endpoints: [
          health,
          {
            method: 'GET',
            path: '/orders',
            latency: () => L.orderList,
            handle: ({ req, url }) => {
              // ?userId= selects the user. A bearer token, when sent, must be valid, and names the
              // user when ?userId is absent (so `curl -H "authorization: Bearer …" /orders` works).
              const fromToken = req.headers.authorization === undefined ? undefined : userFromAuthorization(req.headers.authorization);
              if (req.headers.authorization !== undefined && fromToken === undefined) {
                throw new HttpError(401, 'invalid bearer token', { 'www-authenticate': 'Bearer realm="weir-demo"' });
              }
              const param = url.searchParams.get('userId');
              const userId = param === null ? fromToken : positiveInt(param, 'userId');
              if (userId === undefined) throw new HttpError(400, 'give ?userId= or a bearer token');
              if (fromToken !== undefined && fromToken !== userId) throw new HttpError(403, 'the token belongs to another user');
              const list = data.ordersByUser.get(userId) ?? [];
              return { body: list.map((o) => ({ id: o.id, date: o.date, total: o.total })) };
            },
          },
          {
            method: 'GET',
            path: '/orders/:id',
            latency: () => L.orderDetail,
            handle: ({ params }) => {
              const id = positiveInt(params[0], 'order id');
              const order = data.orders.get(id);
              if (!order) throw new HttpError(404, `no order ${id}`);
              return { body: order };
            },
          },
        ],
      };
    case 'catalog':
      return {
        name,
        scale,
        endpoints: [
          health,
          {
            method: 'GET',
            path: '/products',
            latency: ({ url }) => L.productBatch + L.productBatchPerId * (url.searchParams.get('ids')?.split(',').length ?? data.products.size),
            handle: ({ url }) => {
              const ids = url.searchParams.get('ids');
              if (ids === null) return { body: [...data.products.values()] };
              const list = ids.split(',').map((s) => s.trim()).filter((s) => s !== '');
              if (list.length > 100) throw new HttpError(400, 'at most 100 ids per batch');
              // Same order as asked; unknown (or malformed) ids are left out.
              const body: Product[] = [];
              for (const s of list) {
                const p = /^[0-9]{1,9}$/.test(s) ? data.products.get(Number(s)) : undefined;
                if (p) body.push(p);
              }
              return { body };
            },
          },
          {
            method: 'GET',
            path: '/products/:id',
            latency: () => L.product,
            handle: ({ params }) => {
              const id = positiveInt(params[0], 'product id');
              const product = data.products.get(id);
              if (!product) throw new HttpError(404, `no product ${id}`);
              return { body: product };
            },
          },
        ],
      };
  }
}

function match(endpoints: Endpoint[], segments: string[]): { endpoints: Endpoint[]; params: string[] } {
  const found: Endpoint[] = [];
  let params: string[] = [];
  for (const ep of endpoints) {
    const pattern = ep.path.split('/').slice(1);
    if (pattern.length !== segments.length) continue;
    const p: string[] = [];
    let ok = true;
    for (const [i, part] of pattern.entries()) {
      const seg = segments[i] ?? '';
      if (part.startsWith(':')) {
        if (seg === '') ok = false;
        else p.push(decodePart(seg));
      } else if (part !== seg) ok = false;
      if (!ok) break;
    }
    if (ok) {
      found.push(ep);
      params = p;
    }
  }
  return { endpoints: found, params };
}

function decodePart(seg: string): string {
  try {
    return decodeURIComponent(seg);
  } catch {
    throw new HttpError(400, 'malformed percent-encoding in the path');
  }
}

function parseFaults(body: unknown, current: Faults): Faults {
  if (!isRecord(body)) throw new HttpError(400, 'expected a JSON object');
  const next = { ...current };
  for (const [key, value] of Object.entries(body)) {
    switch (key) {
      case 'failRate':
        if (typeof value !== 'number' || !(value >= 0 && value <= 1)) throw new HttpError(400, 'failRate must be a number from 0 to 1');
        next.failRate = value;
        break;
      case 'status':
        if (typeof value !== 'number' || !Number.isInteger(value) || value < 400 || value > 599) throw new HttpError(400, 'status must be an integer from 400 to 599');
        next.status = value;
        break;
      case 'extraDelayMs':
        if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 600_000) throw new HttpError(400, 'extraDelayMs must be an integer from 0 to 600000');
        next.extraDelayMs = value;
        break;
      case 'down':
        if (typeof value !== 'boolean') throw new HttpError(400, 'down must be true or false');
        next.down = value;
        break;
      default:
        throw new HttpError(400, `unknown field "${key}" (known: failRate, status, extraDelayMs, down)`);
    }
  }
  return next;
}

function headerValue(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

export async function listen(
  spec: { name: ShopServiceName; endpoints: Endpoint[]; scale: number },
  host: string,
  port: number,
): Promise<RunningService> {
  const { name, endpoints, scale } = spec;
  let faults: Faults = { ...NO_FAULTS };
  const timers = new Set<NodeJS.Timeout>();

  const sleep = (ms: number, res: ServerResponse): Promise<boolean> => {
    if (ms <= 0) return Promise.resolve(!res.destroyed);
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        timers.delete(timer);
        res.off('close', done);
        resolve(!res.destroyed && !res.writableEnded);
      };
      const timer = setTimeout(done, ms);
      timers.add(timer);
      // The client went away (or the server closes): stop waiting.
      res.once('close', done);
    });
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://demo.invalid');
    const instance = url.pathname;

    // The control endpoint is never subject to faults, so a "down" service can be brought back.
    if (url.pathname === '/_demo/faults') {
      if (req.method === 'GET') {
        req.resume();
        return send(res, 200, faults, name);
      }
      if (req.method === 'DELETE') {
        req.resume();
        faults = { ...NO_FAULTS };
        return send(res, 200, faults, name);
      }
      if (req.method === 'POST') {
        faults = parseFaults(await readJson(req), faults);
        return send(res, 200, faults, name);
      }
      throw new HttpError(405, 'use GET, POST or DELETE', { allow: 'GET, POST, DELETE' });
    }

    if (faults.down) {
      req.resume();
      return send(res, 503, problem(503, `${name} is down (POST /_demo/faults {"down": false} to bring it back)`, name, instance), name);
    }

    // Per-request fault headers, checked before any work so a bad value is a clear 400.
    const delayHeader = headerValue(req, 'x-demo-delay');
    const failHeader = headerValue(req, 'x-demo-fail');
    const drop = headerValue(req, 'x-demo-drop');
    let delayOverride: number | undefined;
    if (delayHeader !== undefined) {
      if (!/^[0-9]{1,6}$/.test(delayHeader.trim()) || Number(delayHeader) > 600_000) throw new HttpError(400, 'x-demo-delay must be milliseconds from 0 to 600000');
      delayOverride = Number(delayHeader);
    }
    let failStatus: number | undefined;
    if (failHeader !== undefined) {
      const n = Number(failHeader.trim());
      if (!Number.isInteger(n) || n < 400 || n > 599) throw new HttpError(400, 'x-demo-fail must be a status from 400 to 599');
      failStatus = n;
    }

    const segments = url.pathname.split('/').slice(1);
    const method = req.method === 'HEAD' ? 'GET' : req.method;
    const matched = match(endpoints, segments);
    const endpoint = matched.endpoints.find((e) => e.method === method);
    if (!endpoint) {
      req.resume();
      if (matched.endpoints.length > 0) {
        const allow = [...new Set(matched.endpoints.map((e) => e.method))].join(', ');
        throw new HttpError(405, `${req.method ?? '?'} is not allowed here (allow: ${allow})`, { allow });
      }
      throw new HttpError(404, `${name} has no route for ${url.pathname}`);
    }
    const ctx: Ctx = { req, url, params: matched.params };

    const delay = (delayOverride ?? Math.round(endpoint.latency(ctx) * scale)) + faults.extraDelayMs;
    if (!(await sleep(delay, res))) return;

    if (drop !== undefined && drop.trim() !== '' && drop.trim() !== '0') {
      req.socket.destroy();
      return;
    }
    if (failStatus !== undefined) {
      req.resume();
      return send(res, failStatus, problem(failStatus, `failure injected by x-demo-fail: ${failStatus}`, name, instance), name);
    }
    if (faults.failRate > 0 && Math.random() < faults.failRate) {
      req.resume();
      return send(res, faults.status, problem(faults.status, `failure injected by /_demo/faults (failRate ${faults.failRate})`, name, instance), name);
    }
    if (endpoint.method === 'GET') req.resume();
    const reply = await endpoint.handle(ctx);
    send(res, reply.status ?? 200, reply.body, name);
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (res.headersSent || res.destroyed) {
        res.destroy();
        return;
      }
      const e = err instanceof HttpError ? err : new HttpError(500, 'internal error of the demo service');
      req.resume();
      send(res, e.status, problem(e.status, e.detail, name, req.url), name, e.headers);
    });
  });
  server.keepAliveTimeout = 65_000;

  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      reject(
        err.code === 'EADDRINUSE'
          ? new Error(`demo service ${name}: port ${port} on ${host} is already in use (pass another basePort)`, { cause: err })
          : err,
      );
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const urlHost = address.family === 'IPv6' || address.address.includes(':') ? `[${address.address}]` : address.address;

  return {
    name,
    url: `http://${urlHost}:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const t of timers) clearTimeout(t);
        timers.clear();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
