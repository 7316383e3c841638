/** Kept apart from redis.ts so that logging a URL does not load the Redis client. */

/** A Redis URL without its password, for logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString();
  } catch {
    return 'redis://(invalid url)';
  }
}
