/*
 * People sign in through OpenID Connect (R-AUTH-1..4, R-2FA-1).
 *
 * Besides API tokens the gateway accepts a JWT bearer token from a configured
 * issuer (OIDC_ISSUERS). For each issuer it reads the discovery document
 * (`<issuer>/.well-known/openid-configuration`, whose `issuer` must be the
 * configured one) and the key set its `jwks_uri` names; jose's remote key set
 * caches the keys (OIDC_JWKS_CACHE_SECONDS) and reads them again when a token
 * names a key it does not know (at most once per OIDC_JWKS_COOLDOWN_SECONDS),
 * so a rotated signing key is picked up and a removed one is refused.
 *
 * A token is accepted when its signature verifies with one of the issuer's
 * keys under an allowed algorithm (never `none`, never a shared-secret HS*),
 * `iss` is the issuer, `aud` contains OIDC_AUDIENCE, and `exp` / `nbf` hold at
 * the gateway's clock of record within OIDC_CLOCK_SKEW_SECONDS. Then:
 * - the organization claim (OIDC_ORGANIZATION_CLAIM, default `org`) names the
 *   organization by id or by customer reference; naming none is refused;
 * - the role claim (OIDC_ROLES_CLAIM, default `roles`; a string or a list of
 *   strings, e.g. `groups`) is mapped by OIDC_ROLE_MAP; values it does not
 *   map are ignored, and a token where no value maps is refused; of several
 *   mapped roles the widest is taken (ADMIN, SUPERVISOR, INTEGRATOR,
 *   AGENT_CLIENT);
 * - ADMIN needs proof of a hardware second factor: `amr` must contain
 *   OIDC_ADMIN_AMR (default `hwk`), else SECOND_FACTOR_REQUIRED (R-2FA-1).
 * An issuer that cannot be reached (discovery or keys) is UNAVAILABLE (503)
 * for its tokens only; nothing of it ends the process.
 */
import { createHash } from 'node:crypto';
import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, errors, type JWTPayload, jwtVerify } from 'jose';
import type { Executor } from '../db/database.ts';
import { secondFactorRequired, UNAVAILABLE_RETRY_AFTER_SECONDS, unauthenticated, unavailable } from '../errors.ts';
import { organizationNamedBy } from './oidc.repository.ts';
import type { Viewer } from './principal.ts';
import type { ApiRole } from './tokens.ts';

/** Signature algorithms a token may use: asymmetric only (OIDC_ALGORITHMS may narrow the list, never widen it). */
export const ASYMMETRIC_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;
export type OidcAlgorithm = (typeof ASYMMETRIC_ALGORITHMS)[number];

/** The widest role first: of several mapped roles a person gets the first of this list. */
const ROLE_ORDER: readonly ApiRole[] = ['ADMIN', 'SUPERVISOR', 'INTEGRATOR', 'AGENT_CLIENT'];

export interface OidcOptions {
  /** OIDC_ISSUERS: the issuer identifiers (URLs) whose tokens are accepted. */
  issuers: readonly string[];
  /** OIDC_AUDIENCE: what `aud` must contain (the gateway's resource identifier). */
  audience: string;
  /** OIDC_ORGANIZATION_CLAIM (default `org`). */
  organizationClaim: string;
  /** OIDC_ROLES_CLAIM (default `roles`). */
  rolesClaim: string;
  /** OIDC_ROLE_MAP: claim value → role (default ADMIN, SUPERVISOR, INTEGRATOR map to themselves). */
  roleMap: ReadonlyMap<string, ApiRole>;
  /** OIDC_ALGORITHMS. */
  algorithms: readonly OidcAlgorithm[];
  /** OIDC_CLOCK_SKEW_SECONDS: tolerance on exp and nbf. */
  clockSkewSeconds: number;
  /** OIDC_JWKS_CACHE_SECONDS: how long keys and the discovery document are used before they are read again. */
  jwksCacheSeconds: number;
  /** OIDC_JWKS_COOLDOWN_SECONDS: least time between two reads of a key set for an unknown key id. */
  jwksCooldownSeconds: number;
  /** OIDC_ADMIN_AMR: the `amr` value that proves a hardware second factor (default `hwk`). */
  adminAmr: string;
  /** OIDC_DASHBOARD_CLIENT_ID: the public client the dashboard signs in with (null: no sign-in button). */
  dashboardClientId: string | null;
  /** OIDC_DASHBOARD_SCOPE (default `openid`). */
  dashboardScope: string;
  /** How long one HTTP request to an issuer may take (discovery, keys). Default 5 s. */
  httpTimeoutMs?: number;
}

/** The role map without OIDC_ROLE_MAP: ADMIN, SUPERVISOR and INTEGRATOR map to themselves (AGENT_CLIENT only when mapped). */
export function defaultRoleMap(): ReadonlyMap<string, ApiRole> {
  return new Map<string, ApiRole>([
    ['ADMIN', 'ADMIN'],
    ['SUPERVISOR', 'SUPERVISOR'],
    ['INTEGRATOR', 'INTEGRATOR'],
  ]);
}

/** True when a bearer secret has the shape of a JWS compact token (three base64url parts). */
export function looksLikeJwt(secret: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(secret);
}

/** The viewer id of one JWT: `oidc_` and a hash of the token (never the token). */
export function jwtTokenId(token: string): string {
  return `oidc_${createHash('sha256').update(token).digest('base64url').slice(0, 22)}`;
}

/** A failure to reach an issuer (discovery document or key set). */
class IssuerUnreachable extends Error {}

interface IssuerState {
  jwks: ReturnType<typeof createRemoteJWKSet> | null;
  jwksUri: string | null;
  /** When the discovery document was read (monotonic ms). */
  discoveredAt: number;
  discovering: Promise<void> | null;
}

function issuerUnavailable(issuer: string) {
  return unavailable(`the identity provider ${issuer} cannot be reached; retry in ${UNAVAILABLE_RETRY_AFTER_SECONDS} s (R-AUTH-4)`);
}

/**
 * Verifies OpenID Connect bearer tokens and maps them to viewers. One per app
 * (createApp builds it); it keeps each issuer's discovery document and keys.
 *
 * @example
 * const oidc = new OidcVerifier(options);
 * const viewer = await oidc.verify(db, jwt, clock.now()); // { kind: 'token', role: 'SUPERVISOR', person: { … } }
 */
export class OidcVerifier {
  readonly #issuers = new Map<string, IssuerState>();
  /** Customer reference or id → organization id, for a minute (the binding never changes once made). */
  readonly #organizations = new Map<string, { id: string; until: number }>();

  constructor(readonly options: OidcOptions) {
    for (const issuer of options.issuers) this.#issuers.set(issuer, { jwks: null, jwksUri: null, discoveredAt: 0, discovering: null });
  }

  /** The viewer of `token` at `now` (the clock of record); UNAUTHENTICATED, SECOND_FACTOR_REQUIRED or UNAVAILABLE otherwise. */
  async verify(db: Executor, token: string, now: Date): Promise<Viewer> {
    let issuer: string;
    try {
      const header = decodeProtectedHeader(token);
      const claims = decodeJwt(token);
      if (typeof header.alg !== 'string' || !(this.options.algorithms as readonly string[]).includes(header.alg)) {
        throw unauthenticated(`the token's algorithm ${String(header.alg)} is not allowed (OIDC_ALGORITHMS; R-AUTH-1)`);
      }
      if (typeof claims.iss !== 'string' || !this.#issuers.has(claims.iss)) {
        throw unauthenticated('the token is not from a configured identity provider (OIDC_ISSUERS; R-AUTH-1)');
      }
      issuer = claims.iss;
    } catch (error) {
      if (error instanceof errors.JOSEError) throw unauthenticated('the bearer token is not a well-formed JWT (R-AUTH-1)');
      throw error;
    }
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, (h, t) => this.#key(issuer, h, t), {
        issuer,
        audience: this.options.audience,
        algorithms: [...this.options.algorithms],
        clockTolerance: this.options.clockSkewSeconds,
        currentDate: now,
        requiredClaims: ['exp', 'sub'],
      }));
    } catch (error) {
      if (error instanceof IssuerUnreachable) throw issuerUnavailable(issuer);
      throw unauthenticated(`the token was refused: ${refusal(error)} (R-AUTH-1)`);
    }
    const organizationId = await this.#organization(db, payload[this.options.organizationClaim], now);
    const role = this.#role(payload[this.options.rolesClaim]);
    if (role === 'ADMIN') {
      const amr = Array.isArray(payload.amr) ? payload.amr : [];
      if (!amr.includes(this.options.adminAmr)) {
        throw secondFactorRequired(
          `ADMIN access needs a sign-in with a hardware security key: the token's amr must contain "${this.options.adminAmr}" (OIDC_ADMIN_AMR)`,
        );
      }
    }
    return {
      kind: 'token',
      tokenId: jwtTokenId(token),
      organizationId,
      role,
      person: { issuer, subject: String(payload.sub), expiresAt: new Date((payload.exp as number) * 1000) },
    };
  }

  async #organization(db: Executor, claim: unknown, now: Date): Promise<string> {
    const name = this.options.organizationClaim;
    if (typeof claim !== 'string' || claim === '' || claim.length > 200) {
      throw unauthenticated(`the token has no organization claim "${name}" (OIDC_ORGANIZATION_CLAIM; R-AUTH-2)`);
    }
    const hit = this.#organizations.get(claim);
    if (hit && hit.until > now.getTime()) return hit.id;
    const id = await organizationNamedBy(db, claim);
    if (!id) throw unauthenticated(`the token's claim "${name}" names no organization of this gateway (R-AUTH-2)`);
    if (this.#organizations.size >= 10_000) this.#organizations.delete(this.#organizations.keys().next().value as string);
    this.#organizations.set(claim, { id, until: now.getTime() + 60_000 });
    return id;
  }

  #role(claim: unknown): ApiRole {
    const values = typeof claim === 'string' ? claim.split(' ') : Array.isArray(claim) ? claim : [];
    const mapped = new Set<ApiRole>();
    for (const v of values) {
      const role = typeof v === 'string' ? this.options.roleMap.get(v) : undefined;
      if (role) mapped.add(role);
    }
    const role = ROLE_ORDER.find((r) => mapped.has(r));
    if (!role) {
      throw unauthenticated(
        `the token's claim "${this.options.rolesClaim}" carries no role this gateway maps (OIDC_ROLES_CLAIM, OIDC_ROLE_MAP; R-AUTH-3)`,
      );
    }
    return role;
  }

  /** The key of a token header: the issuer's key set, discovered first if need be. */
  async #key(
    issuer: string,
    header: Parameters<ReturnType<typeof createRemoteJWKSet>>[0],
    token: Parameters<ReturnType<typeof createRemoteJWKSet>>[1],
  ) {
    const jwks = await this.#jwks(issuer);
    try {
      return await jwks(header, token);
    } catch (error) {
      // A key the set does not hold is the token's fault; anything else is the issuer's (timeout, network, bad answer).
      if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys) throw error;
      throw new IssuerUnreachable(String(error));
    }
  }

  async #jwks(issuer: string): Promise<ReturnType<typeof createRemoteJWKSet>> {
    const state = this.#issuers.get(issuer);
    if (!state) throw new IssuerUnreachable(issuer);
    const stale = performance.now() - state.discoveredAt > this.options.jwksCacheSeconds * 1000;
    if (!state.jwks || stale) {
      state.discovering ??= this.#discover(issuer, state).finally(() => {
        state.discovering = null;
      });
      try {
        await state.discovering;
      } catch (error) {
        // A stale document still serves while the issuer is away; with none, its tokens are UNAVAILABLE.
        if (!state.jwks) throw error;
      }
    }
    if (!state.jwks) throw new IssuerUnreachable(issuer);
    return state.jwks;
  }

  async #discover(issuer: string, state: IssuerState): Promise<void> {
    const url = `${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
    let document: { issuer?: unknown; jwks_uri?: unknown };
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(this.options.httpTimeoutMs ?? 5_000), redirect: 'error' });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      document = (await response.json()) as typeof document;
    } catch (error) {
      throw new IssuerUnreachable(`${url}: ${String(error)}`);
    }
    if (document.issuer !== issuer || typeof document.jwks_uri !== 'string') {
      throw new IssuerUnreachable(`${url}: the document's issuer or jwks_uri does not match`);
    }
    if (state.jwksUri !== document.jwks_uri || !state.jwks) {
      state.jwks = createRemoteJWKSet(new URL(document.jwks_uri), {
        cacheMaxAge: this.options.jwksCacheSeconds * 1000,
        cooldownDuration: this.options.jwksCooldownSeconds * 1000,
        timeoutDuration: this.options.httpTimeoutMs ?? 5_000,
      });
      state.jwksUri = document.jwks_uri;
    }
    state.discoveredAt = performance.now();
  }

  /** What the dashboard needs to sign in (served at /dashboard/oidc.json); null without a dashboard client. */
  dashboardSettings(): { issuer: string; clientId: string; scope: string; audience: string } | null {
    const issuer = this.options.issuers[0];
    if (!issuer || !this.options.dashboardClientId) return null;
    return { issuer, clientId: this.options.dashboardClientId, scope: this.options.dashboardScope, audience: this.options.audience };
  }
}

/** Why jose refused a token, in words a client may see (no key material, no internals). */
function refusal(error: unknown): string {
  if (error instanceof errors.JWTExpired) return 'it has expired (exp)';
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === 'aud') return 'its audience (aud) is not this gateway (OIDC_AUDIENCE)';
    if (error.claim === 'nbf') return 'it is not valid yet (nbf)';
    if (error.claim === 'iss') return 'its issuer (iss) is not configured';
    return `its claim ${error.claim} is missing or invalid`;
  }
  if (error instanceof errors.JOSEAlgNotAllowed) return 'its algorithm is not allowed (OIDC_ALGORITHMS)';
  if (error instanceof errors.JWKSNoMatchingKey) return 'no current key of its issuer matches it (unknown or rotated key)';
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'its signature does not verify';
  if (error instanceof errors.JWTInvalid) return 'it is not a valid JWT';
  return 'it could not be verified';
}
