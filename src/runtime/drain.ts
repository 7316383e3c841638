import type { Server } from 'node:http';
import type { Gateway } from '../dataplane/gateway.js';

/**
 * Graceful stop of a traffic server: no new connections, keep-alive switched off so busy
 * connections close after their current response, idle ones closed at once, and after
 * `timeoutMs` whatever is still open is cut. Resolves true when everything finished in time.
 */
export async function drainServer(server: Server, gateway: Gateway, timeoutMs: number): Promise<boolean> {
  gateway.draining = true;
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  // Connections that were busy when the drain began become idle after their response.
  const sweep = setInterval(() => server.closeIdleConnections(), 50);
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  const inTime = await Promise.race([closed.then(() => true), timedOut]);
  clearInterval(sweep);
  clearTimeout(timer);
  if (!inTime) server.closeAllConnections();
  await gateway.close(timeoutMs);
  return inTime;
}
