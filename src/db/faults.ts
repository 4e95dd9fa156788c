/*
 * Database faults: which errors mean "the database is not reachable right now"
 * (as opposed to a bug or a refused statement), and the answer a client gets
 * for them: `UNAVAILABLE`, HTTP 503 with `Retry-After`, something it can retry
 * on, instead of the masked `Unexpected error.`.
 */
import { GraphQLError } from 'graphql';
import { maskError as yogaMaskError } from 'graphql-yoga';
import { unavailable } from '../errors.ts';

/** Socket-level codes of Node (and of pg, which passes them on). */
const SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
]);
/**
 * SQLSTATEs of a server that is going away, starting or full: admin_shutdown,
 * crash_shutdown, cannot_connect_now, too_many_connections, and the whole
 * connection_exception class (08…).
 */
const SERVER_CODES = new Set(['57P01', '57P02', '57P03', '53300']);
/** What pg and pg-pool say when a connection dies or cannot be had in time. */
const MESSAGES = [
  /connection terminated/i,
  /timeout exceeded when trying to connect/i,
  /connection is not queryable|not queryable/i,
  /terminating connection/i,
  /the database system is (starting up|shutting down|in recovery mode)/i,
  /cannot use a pool after calling end/i,
  /Client was closed and is not queryable/i,
];

/**
 * True when `error` (or what it wraps: `cause`, `originalError`, the errors of
 * an AggregateError) says the database could not be reached or went away: a
 * retry later may well succeed.
 *
 * @example
 * try { await db.selectFrom('users').execute() } catch (e) { if (isConnectionError(e)) retryLater() }
 */
export function isConnectionError(error: unknown, depth = 0): boolean {
  if (depth > 5 || error === null || typeof error !== 'object') return false;
  const e = error as { code?: unknown; message?: unknown; cause?: unknown; originalError?: unknown; errors?: unknown };
  if (typeof e.code === 'string' && (SOCKET_CODES.has(e.code) || SERVER_CODES.has(e.code) || /^08[0-9A-Z]{3}$/.test(e.code))) return true;
  if (
    typeof e.message === 'string' &&
    !(error instanceof GraphQLError && error.originalError == null) &&
    MESSAGES.some((m) => m.test(e.message as string))
  )
    return true;
  if (isConnectionError(e.originalError, depth + 1) || isConnectionError(e.cause, depth + 1)) return true;
  return Array.isArray(e.errors) && e.errors.some((inner) => isConnectionError(inner, depth + 1));
}

/** A short description of a connection fault for log lines: its code, else its message. */
export function describeFault(error: unknown): string {
  const e = error as { code?: unknown; message?: unknown; errors?: unknown } | null;
  if (e && typeof e.code === 'string') return `${e.code}${typeof e.message === 'string' && e.message ? ` (${e.message})` : ''}`;
  if (e && typeof e.message === 'string' && e.message) return e.message;
  if (e && Array.isArray(e.errors) && e.errors.length > 0) return describeFault(e.errors[0]);
  return String(error);
}

/**
 * Yoga's `maskedErrors.maskError`: every error a client is about to see that
 * is not one of ours passes here (resolver errors, a failing context factory,
 * HTTP and graphql-ws alike). A connection fault becomes `UNAVAILABLE` (HTTP
 * 503, `Retry-After`) at the same path; anything else is masked as Yoga does.
 */
export function maskDatabaseFaults(error: unknown, message: string, isDev?: boolean): Error {
  if (isConnectionError(error)) {
    const answer = unavailable();
    if (!(error instanceof GraphQLError)) return answer;
    return new GraphQLError(answer.message, {
      ...(error.nodes ? { nodes: error.nodes } : {}),
      ...(error.source ? { source: error.source } : {}),
      ...(error.positions ? { positions: error.positions } : {}),
      ...(error.path ? { path: error.path } : {}),
      extensions: answer.extensions,
    });
  }
  return yogaMaskError(error, message, isDev);
}
