import { pino, type Logger as PinoLogger } from 'pino';
import { DEFAULT_LOG_MASKER, logSerializers, type LogMasker } from '../masking/log.js';

export type Logger = PinoLogger;

export interface LoggerOptions {
  level?: string;
  /** Extra fields on every line (e.g. `{ worker: 2 }`). */
  base?: Record<string, unknown>;
  /** Where lines go (default: stdout, asynchronously). Tests pass a stream to read them. */
  destination?: NodeJS.WritableStream;
}

/**
 * JSON lines on stdout through sonic-boom's asynchronous writer, so logging never
 * blocks the event loop; `flushLogger` on shutdown writes out what is buffered. Fields that can
 * carry credentials (`url`, `headers`, `err` …) are redacted on every line (src/masking/log.ts);
 * the data plane adds the config's `global.masking` rules with `maskedLogger`.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      level: options.level ?? process.env.WEIR_LOG_LEVEL ?? 'info',
      base: { pid: process.pid, ...options.base },
      timestamp: pino.stdTimeFunctions.isoTime,
      serializers: logSerializers(DEFAULT_LOG_MASKER),
    },
    options.destination ?? pino.destination({ dest: 1, sync: false }),
  );
}

export function flushLogger(log: Logger): void {
  log.flush();
}

/** A logger that drops everything: for tests that assert on behaviour, not output. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/** `log` with `masker` (a config version's `global.masking`) on the fields that carry user data. */
export function maskedLogger(log: Logger, masker: LogMasker): Logger {
  return log.child({}, { serializers: logSerializers(masker) });
}
