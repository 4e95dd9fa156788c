import { GraphQLError } from 'graphql';
import { looksLikeJwt, type OidcVerifier } from '../auth/oidc.ts';
import { sameSecret, secretDigest } from '../auth/tokens.ts';
import type { Viewer } from '../auth/viewer.ts';
import type { Clock } from '../clock.ts';
import type { Db } from '../db/database.ts';
import type { Metrics } from '../observability/metrics.ts';
import { rateLimitError, type SlidingWindowLimiter } from '../security/rate-limit.ts';
import type { TokenCache } from '../tokens/token-cache.ts';
import { resolveViewer } from '../tokens/tokens.service.ts';

/** Resolves the viewer of an `Authorization` value presented from a client address (null: unknown). */
export type Authenticate = (authorization: string | null | undefined, address: string | null) => Promise<Viewer>;

export interface AuthenticateDeps {
  db: Db;
  clock: Clock;
  operatorToken: string;
  tokens: TokenCache;
  /** Failed authentications per client address (AUTH_RATE_LIMIT). */
  failures: SlidingWindowLimiter;
  metrics: Metrics;
  /** OpenID Connect sign-in (OIDC_ISSUERS); absent: only API tokens and the operator token. */
  oidc?: OidcVerifier | null;
}

/** The bearer secret of an Authorization value when it is a JWT (and not the operator token), else null. */
function jwtOf(authorization: string | null | undefined, operatorToken: string): string | null {
  const secret = /^Bearer\s+(\S+)\s*$/i.exec(authorization?.trim() ?? '')?.[1];
  if (!secret || !looksLikeJwt(secret) || sameSecret(secret, operatorToken)) return null;
  return secret;
}

/**
 * The authentication of HTTP requests and WebSocket connections alike. A
 * valid token is always served, whatever else came from its address (behind a
 * proxy or NAT that address is everyone's), so 20 bad tokens cannot lock out
 * the operator or anyone else (R-SEC-6). A bad token counts as a failure of
 * its client address; from an address with too many failures in the window a
 * bad token gets 429 instead of 401 until the oldest failure leaves it.
 * Failures keep counting while an address is blocked, so a steady guesser
 * stays blocked; guessing itself is hopeless against 256-bit organization
 * tokens and a long random OPERATOR_TOKEN. A JWT bearer token goes to the
 * OpenID Connect verifier when issuers are configured (R-AUTH-1).
 */
export function createAuthenticate(deps: AuthenticateDeps): Authenticate {
  const { db, clock, operatorToken, tokens, failures, metrics, oidc } = deps;
  const operatorDigest = secretDigest(operatorToken);
  return async (authorization, address) => {
    try {
      // A JWT is a person's OpenID Connect token (src/auth/oidc.ts), checked at the clock of record; anything else an API token.
      const jwt = oidc ? jwtOf(authorization, operatorToken) : null;
      if (oidc && jwt) return await oidc.verify(db, jwt, clock.now());
      return await resolveViewer(db, clock, operatorDigest, authorization, tokens);
    } catch (error) {
      if (address === null || !(error instanceof GraphQLError) || error.extensions.code !== 'UNAUTHENTICATED') throw error;
      const blocked = failures.blocked(address);
      failures.hit(address);
      if (!blocked) throw error;
      metrics.rateLimited.inc({ limit: 'auth' });
      throw rateLimitError('too many failed authentication attempts from this address; try again later', failures.retryAfterMs(address));
    }
  };
}
