import { GraphQLError } from 'graphql';

/**
 * The closed set of error codes a client can see (R-API-1). Anything else that
 * goes wrong is unexpected and stays masked by Yoga ("Unexpected error.").
 */
export type ErrorCode =
  | 'BAD_USER_INPUT'
  | 'NOT_FOUND'
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'INVALID_LICENSE_KEY'
  | 'RATE_LIMITED'
  | 'CLOCK_SKEW'
  /** The database cannot be reached right now (HTTP 503 with Retry-After): retry later. */
  | 'UNAVAILABLE'
  /** A database statement ran past DATABASE_STATEMENT_TIMEOUT_MS and was cancelled (HTTP 503, Retry-After): nothing changed. */
  | 'STATEMENT_TIMEOUT'
  /**
   * A person's OpenID Connect token maps to ADMIN but does not prove a hardware second factor (its `amr` lacks
   * OIDC_ADMIN_AMR, default `hwk`; HTTP 403, rule R-2FA-1): sign in again with the security key.
   */
  | 'SECOND_FACTOR_REQUIRED';

declare module 'graphql' {
  interface GraphQLErrorExtensions {
    code?: ErrorCode | string;
    /** Input path of the offending field, e.g. `input.name`. */
    field?: string;
    /** The rule (docs/rules.md) that refused it, e.g. `R-TEN-3`. */
    rule?: string;
    /** Why an object is gone, e.g. `USER_DELETED` for a session whose user was deleted. */
    reason?: string;
  }
}

const HTTP_STATUS: Partial<Record<ErrorCode, number>> = {
  UNAUTHENTICATED: 401,
  RATE_LIMITED: 429,
  CLOCK_SKEW: 503,
  SECOND_FACTOR_REQUIRED: 403,
};

function error(code: ErrorCode, message: string, extra: { field?: string; rule?: string } = {}): GraphQLError {
  const status = HTTP_STATUS[code];
  return new GraphQLError(message, {
    extensions: { code, ...extra, ...(status ? { http: { status } } : {}) },
  });
}

/** Input errors name the field and, where a rule refused it, the rule. */
export function badInput(field: string, message: string, rule?: string): GraphQLError {
  return error('BAD_USER_INPUT', `${field}: ${message}${rule ? ` (${rule})` : ''}`, { field, ...(rule ? { rule } : {}) });
}

/**
 * The same answer for "does not exist" and "belongs to another organization"
 * (R-SEC-2). `gone` says why an object of the viewer's own organization is no
 * longer there (`extensions.reason`), e.g. a session whose user was deleted.
 */
export function notFound(what: string, id: string, gone?: { reason: string; why: string }): GraphQLError {
  if (!gone) return error('NOT_FOUND', `${what} ${id} not found`);
  return new GraphQLError(`${what} ${id} not found: ${gone.why} (${gone.reason})`, {
    extensions: { code: 'NOT_FOUND', reason: gone.reason },
  });
}

/** NOT_FOUND for an id given in an argument other than the object's own: the message and `extensions.field` name it. */
export function notFoundAt(field: string, what: string, id: string): GraphQLError {
  return error('NOT_FOUND', `${field}: ${what} ${id} not found`, { field });
}

export function unauthenticated(message = 'a valid API token is required: Authorization: Bearer <token>'): GraphQLError {
  return error('UNAUTHENTICATED', message);
}

/** ADMIN access of a person without proof of a hardware second factor in the token (R-2FA-1). */
export function secondFactorRequired(message: string): GraphQLError {
  return error('SECOND_FACTOR_REQUIRED', `${message} (R-2FA-1)`, { rule: 'R-2FA-1' });
}

export function forbidden(message: string): GraphQLError {
  return error('FORBIDDEN', message);
}

export function invalidLicenseKey(check: string, message: string): GraphQLError {
  return error('INVALID_LICENSE_KEY', `licence key refused: ${message}`, { field: 'input.key', rule: check });
}

/**
 * A licence key stored for the organization no longer passes the payload
 * check (stored by an older gateway, or edited in the database): reads of its
 * licence answer this instead of failing further on. `rule` is INVALID_PAYLOAD.
 */
export function invalidStoredKey(keyId: string, reason: string): GraphQLError {
  const shown = keyId.length > 60 ? `${keyId.slice(0, 60)}…` : keyId;
  return error(
    'INVALID_LICENSE_KEY',
    `stored licence key ${shown} of this organization is invalid (${reason}); the licence cannot be evaluated until the operator removes or replaces that stored row`,
    { rule: 'INVALID_PAYLOAD' },
  );
}

export function rateLimited(message: string): GraphQLError {
  return error('RATE_LIMITED', message);
}

/** This instance's OS clock is off the database's by more than CLOCK_SKEW_MAX_SECONDS: it writes nothing (R-LIFE-6). */
export function clockSkew(message: string, skewMs: number | null, maxSkewMs: number): GraphQLError {
  const refused = error('CLOCK_SKEW', `${message}; this instance refuses changes until its clock is corrected (R-LIFE-6)`, {
    rule: 'R-LIFE-6',
  });
  Object.assign(refused.extensions, { skewSeconds: skewMs === null ? null : skewMs / 1000, maxSkewSeconds: maxSkewMs / 1000 });
  return refused;
}

/** Seconds a client is told to wait (Retry-After) when the database is unavailable. */
export const UNAVAILABLE_RETRY_AFTER_SECONDS = 2;

/** The database cannot be reached right now: HTTP 503 with Retry-After, nothing of the operation was done or it may be retried. */
export function unavailable(message = `the database is unavailable; retry in ${UNAVAILABLE_RETRY_AFTER_SECONDS} s`): GraphQLError {
  return new GraphQLError(message, {
    extensions: { code: 'UNAVAILABLE', http: { status: 503, headers: { 'retry-after': String(UNAVAILABLE_RETRY_AFTER_SECONDS) } } },
  });
}
