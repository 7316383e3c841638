import { connect } from 'node:net';

/**
 * Sends `request` as raw bytes to 127.0.0.1:`port` and resolves with everything the gateway
 * answered before the connection closed. The client half-closes after 500 ms unless `holdOpenMs`
 * is set (then the gateway must close it, as a request timeout does).
 */
export function rawRequest(port: number, request: string | Buffer, holdOpenMs = 0): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    sock.on('data', (d) => chunks.push(d));
    sock.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
    sock.on('error', reject);
    sock.write(request);
    if (holdOpenMs === 0) setTimeout(() => sock.end(), 500);
  });
}
