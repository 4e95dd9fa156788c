import { pino, type DestinationStream, type Logger } from 'pino';
import type { YogaLogger } from 'graphql-yoga';

export type { Logger };
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/**
 * Paths that must never reach a log line, whatever a caller passes: headers,
 * tokens, licence keys and GraphQL variables (which carry keys and names).
 * The logging plugin never logs these in the first place; this is the net
 * under it.
 */
const REDACT = [
  'authorization',
  'Authorization',
  'headers',
  'req.headers',
  'token',
  'operatorToken',
  'secret',
  'key',
  'variables',
  'connectionParams',
  '*.authorization',
  '*.Authorization',
  '*.headers',
  '*.token',
  '*.key',
  '*.variables',
];

/**
 * JSON lines on stdout (or `destination`): `{"level":"info","time":"…","msg":"…",…}`.
 *
 * @example
 * const logger = createLogger('info');
 * logger.info({ requestId, operationName, durationMs }, 'graphql operation');
 */
export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  const options = {
    level,
    base: null,
    messageKey: 'msg',
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
    redact: { paths: REDACT, censor: '[redacted]' },
  };
  return destination ? pino(options, destination) : pino(options);
}

/** A logger that writes nothing (the default for apps built in tests). */
export function silentLogger(): Logger {
  return createLogger('silent');
}

/** Yoga's own messages (it logs the original of every masked error) go through the same logger. */
export function yogaLogger(logger: Logger): YogaLogger {
  const log =
    (level: 'debug' | 'info' | 'warn' | 'error') =>
    (...args: unknown[]) => {
      const [first, ...rest] = args;
      if (first instanceof Error)
        logger[level]({ err: first }, level === 'error' ? 'unexpected error (masked in the response)' : first.message);
      else logger[level]({ details: rest.length ? rest : undefined }, String(first));
    };
  return { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
}
