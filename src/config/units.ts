/**
 * Durations and sizes as written in weir.yaml. The schema has already checked their syntax, so
 * these only convert.
 */

const MS_PER_UNIT = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;
const BYTES_PER_UNIT = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 } as const;

/** Milliseconds for `250`, `"250ms"`, `"1.5s"`, `"1m"`, `"1h"` (rounded to a whole ms). */
export function durationMs(value: number | string): number {
  if (typeof value === 'number') return value;
  const match = /^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)$/.exec(value);
  if (match === null) throw new TypeError(`not a duration: ${JSON.stringify(value)}`);
  return Math.round(Number(match[1]) * MS_PER_UNIT[match[2] as keyof typeof MS_PER_UNIT]);
}

/** Bytes for `1048576`, `"512b"`, `"16kb"`, `"10mb"`, `"1gb"` (1kb = 1024 bytes). */
export function sizeBytes(value: number | string): number {
  if (typeof value === 'number') return value;
  const match = /^([0-9]+)(b|kb|mb|gb)$/.exec(value);
  if (match === null) throw new TypeError(`not a size: ${JSON.stringify(value)}`);
  return Number(match[1]) * BYTES_PER_UNIT[match[2] as keyof typeof BYTES_PER_UNIT];
}

/** `convert(value)`, or undefined when the value is absent. */
export function optional<T, R>(value: T | undefined, convert: (value: T) => R): R | undefined {
  return value === undefined ? undefined : convert(value);
}
