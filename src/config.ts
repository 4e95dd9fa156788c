import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { DEFAULT_ALLOCATION_CACHE_USERS } from './allocation/cache.ts';
import { ASYMMETRIC_ALGORITHMS, defaultRoleMap, type OidcAlgorithm, type OidcOptions } from './auth/oidc.ts';
import { API_ROLES, type ApiRole } from './auth/tokens.ts';
import { KeyMaterialError, parseTrustedKeys, type TrustedKey } from './keys/codec.ts';
import { DEFAULT_LIVE_LIMITS, type LiveLimits } from './live/bounds.ts';
import { DEFAULT_LIMITS, type OperationLimits } from './security/limits.ts';
import { DEFAULT_RATE_LIMITS, type RateLimits } from './security/rate-limit.ts';
import { DEFAULT_WEBHOOK_OPTIONS, type WebhookOptions } from './webhooks/options.ts';

/** DATABASE_STATEMENT_TIMEOUT_MS default: well above the slowest statement the benchmark measures (a 100,000-user organization). */
export const DEFAULT_STATEMENT_TIMEOUT_MS = 15_000;

export interface Config {
  port: number;
  host: string;
  /** PostgreSQL connection string; null selects embedded PGlite in `dataDir`. */
  databaseUrl: string | null;
  /**
   * DATABASE_LISTEN_URL: a direct connection to the same PostgreSQL database for
   * what needs a session of its own (the LISTEN connection, the migrations'
   * advisory lock) when DATABASE_URL goes through a pooler in transaction mode;
   * null: DATABASE_URL for everything.
   */
  databaseListenUrl: string | null;
  /**
   * DATABASE_PREPARED_STATEMENTS: the hottest statements (the one-statement
   * start) go as named prepared statements (db/prepared.ts). Default: on,
   * off when DATABASE_LISTEN_URL is set (a pooler in transaction mode, which
   * does not carry them between server connections).
   */
  databasePreparedStatements: boolean;
  dataDir: string;
  /** Pool size for PostgreSQL: the hot seat rows degrade with many more connections than cores. */
  databasePoolSize: number;
  /** DATABASE_STATEMENT_TIMEOUT_MS: PostgreSQL's statement_timeout for every statement of the pool; 0 off (PGlite: not enforced). */
  databaseStatementTimeoutMs: number;
  /** How long a start waits for an unreachable database before giving up (ms); 0: not at all. */
  databaseWaitMs: number;
  /** Bounds on WebSocket connections and subscriptions (WebSocket and SSE). */
  liveLimits: LiveLimits;
  operatorToken: string;
  /** True when OPERATOR_TOKEN was not set and a random one was generated for this run. */
  operatorTokenGenerated: boolean;
  licensePublicKeys: TrustedKey[];
  sessionTtlSeconds: number;
  /** Least time between two SESSION_DENIED events of one user and denial code (0: every denial). */
  denialEventIntervalSeconds: number;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Operation limits (R-SEC-3). */
  limits: OperationLimits;
  rateLimits: RateLimits;
  /** Take the client address for rate limits from the last X-Forwarded-For entry (behind one trusted proxy). */
  trustProxy: boolean;
  /** How long a shutdown waits for in-flight requests before closing their connections. */
  shutdownTimeoutMs: number;
  /** When set, /metrics needs `Authorization: Bearer <metricsToken>`. */
  metricsToken: string | null;
  /** METRICS_PER_ORGANIZATION: /metrics labels seat gauges with organization ids (default false: per product only). */
  metricsPerOrganization: boolean;
  /** Users whose allocation inputs the read cache may hold, over all organizations; 0 disables it (R-PERF-2). */
  allocationCacheUsers: number;
  /** CLOCK_SKEW_MAX_SECONDS in ms: beyond this skew against the database's clock an instance is not ready and writes nothing (R-LIFE-6). */
  clockSkewMaxMs: number;
  /** Webhook delivery: WEBHOOK_POLL_MS, WEBHOOK_RETRY_SECONDS, WEBHOOK_BACKOFF_BASE_MS, WEBHOOK_BACKOFF_MAX_MS, WEBHOOK_TIMEOUT_MS, WEBHOOK_ALLOW_PRIVATE. */
  webhooks: WebhookOptions;
  /** OpenID Connect sign-in of people (OIDC_*); null when OIDC_ISSUERS is unset. */
  oidc: OidcOptions | null;
}

/** A configuration error names the variable; `main.ts` prints it and exits non-zero. */
export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
    this.name = 'ConfigError';
  }
}

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw)) throw new ConfigError(name, `must be a whole number, got "${raw}"`);
  const value = Number(raw);
  if (value < min || value > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${value}`);
  return value;
}

function boolean(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const raw = env[name]?.trim().toLowerCase();
  if (raw === undefined || raw === '') return fallback;
  if (raw === 'true' || raw === '1' || raw === 'yes') return true;
  if (raw === 'false' || raw === '0' || raw === 'no') return false;
  throw new ConfigError(name, `must be true or false, got "${env[name]}"`);
}

function trustedKeys(value: string): TrustedKey[] {
  try {
    return parseTrustedKeys(value);
  } catch (error) {
    if (error instanceof KeyMaterialError) throw new ConfigError('LICENSE_PUBLIC_KEYS', error.message);
    throw error;
  }
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const databaseUrl = env.DATABASE_URL?.trim() || null;
  if (databaseUrl !== null && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new ConfigError('DATABASE_URL', 'must be a postgres:// or postgresql:// URL');
  }
  const databaseListenUrl = env.DATABASE_LISTEN_URL?.trim() || null;
  if (databaseListenUrl !== null) {
    if (databaseUrl === null) throw new ConfigError('DATABASE_LISTEN_URL', 'needs DATABASE_URL (PGlite has no LISTEN connection)');
    if (!/^postgres(ql)?:\/\//.test(databaseListenUrl)) {
      throw new ConfigError('DATABASE_LISTEN_URL', 'must be a postgres:// or postgresql:// URL');
    }
  }
  let operatorToken = env.OPERATOR_TOKEN ?? '';
  const operatorTokenGenerated = operatorToken === '';
  if (operatorTokenGenerated) operatorToken = `op_${randomBytes(24).toString('base64url')}`;
  if (operatorToken.length < 16) throw new ConfigError('OPERATOR_TOKEN', 'must be at least 16 characters long');
  const logLevel = env.LOG_LEVEL ?? 'info';
  const level = LOG_LEVELS.find((l) => l === logLevel);
  if (level === undefined) throw new ConfigError('LOG_LEVEL', `must be one of ${LOG_LEVELS.join(', ')}`);
  return {
    port: integer(env, 'PORT', 4000, 0, 65535),
    host: env.HOST?.trim() || '0.0.0.0',
    databaseUrl,
    databaseListenUrl,
    databasePreparedStatements: boolean(env, 'DATABASE_PREPARED_STATEMENTS', databaseListenUrl === null),
    dataDir: resolve(env.DATA_DIR?.trim() || './data'),
    databasePoolSize: integer(env, 'DATABASE_POOL_SIZE', 10, 1, 200),
    databaseStatementTimeoutMs: integer(env, 'DATABASE_STATEMENT_TIMEOUT_MS', DEFAULT_STATEMENT_TIMEOUT_MS, 0, 3_600_000),
    databaseWaitMs: integer(env, 'DATABASE_WAIT_SECONDS', 300, 0, 86_400) * 1000,
    liveLimits: {
      maxConnections: integer(env, 'MAX_WS_CONNECTIONS', DEFAULT_LIVE_LIMITS.maxConnections, 1, 1_000_000),
      maxConnectionsPerToken: integer(env, 'MAX_WS_CONNECTIONS_PER_TOKEN', DEFAULT_LIVE_LIMITS.maxConnectionsPerToken, 1, 1_000_000),
      maxSubscriptionsPerSocket: integer(env, 'MAX_SUBSCRIPTIONS_PER_SOCKET', DEFAULT_LIVE_LIMITS.maxSubscriptionsPerSocket, 1, 100_000),
      maxSubscriptionsPerToken: integer(env, 'MAX_SUBSCRIPTIONS_PER_TOKEN', DEFAULT_LIVE_LIMITS.maxSubscriptionsPerToken, 1, 1_000_000),
      maxSubscriptions: integer(env, 'MAX_SUBSCRIPTIONS', DEFAULT_LIVE_LIMITS.maxSubscriptions, 1, 1_000_000),
    },
    operatorToken,
    operatorTokenGenerated,
    licensePublicKeys: trustedKeys(env.LICENSE_PUBLIC_KEYS ?? ''),
    sessionTtlSeconds: integer(env, 'SESSION_TTL_SECONDS', 120, 5, 86400),
    denialEventIntervalSeconds: integer(env, 'DENIAL_EVENT_INTERVAL_SECONDS', 10, 0, 86400),
    logLevel: level,
    limits: {
      maxDepth: integer(env, 'GRAPHQL_MAX_DEPTH', DEFAULT_LIMITS.maxDepth, 1, 1000),
      maxAliases: integer(env, 'GRAPHQL_MAX_ALIASES', DEFAULT_LIMITS.maxAliases, 0, 100_000),
      maxTokens: integer(env, 'GRAPHQL_MAX_TOKENS', DEFAULT_LIMITS.maxTokens, 100, 1_000_000),
      maxCost: integer(env, 'GRAPHQL_MAX_COST', DEFAULT_LIMITS.maxCost, 1, 10_000_000),
      maxDirectives: integer(env, 'GRAPHQL_MAX_DIRECTIVES', DEFAULT_LIMITS.maxDirectives, 0, 100_000),
      maxBatch: integer(env, 'GRAPHQL_MAX_BATCH', DEFAULT_LIMITS.maxBatch, 0, 1000),
      maxBodyBytes: integer(env, 'MAX_REQUEST_BODY_BYTES', DEFAULT_LIMITS.maxBodyBytes, 1024, 100 * 1024 * 1024),
      introspection: boolean(env, 'GRAPHQL_INTROSPECTION', DEFAULT_LIMITS.introspection),
      maxResponseBytes: integer(env, 'GRAPHQL_MAX_RESPONSE_BYTES', DEFAULT_LIMITS.maxResponseBytes, 0, 1024 * 1024 * 1024),
      expensiveCost: integer(env, 'GRAPHQL_EXPENSIVE_COST', DEFAULT_LIMITS.expensiveCost, 1, 100_000_000),
      expensiveConcurrency: integer(env, 'GRAPHQL_EXPENSIVE_CONCURRENCY', DEFAULT_LIMITS.expensiveConcurrency, 0, 1000),
      expensiveWaitMs: integer(env, 'GRAPHQL_EXPENSIVE_WAIT_MS', DEFAULT_LIMITS.expensiveWaitMs, 0, 60_000),
    },
    rateLimits: {
      authFailures: integer(env, 'RATE_LIMIT_AUTH_FAILURES', DEFAULT_RATE_LIMITS.authFailures, 0, 1_000_000),
      authWindowMs: integer(env, 'RATE_LIMIT_AUTH_WINDOW_SECONDS', DEFAULT_RATE_LIMITS.authWindowMs / 1000, 1, 86_400) * 1000,
      activations: integer(env, 'RATE_LIMIT_ACTIVATIONS', DEFAULT_RATE_LIMITS.activations, 0, 1_000_000),
      activationWindowMs:
        integer(env, 'RATE_LIMIT_ACTIVATION_WINDOW_SECONDS', DEFAULT_RATE_LIMITS.activationWindowMs / 1000, 1, 86_400) * 1000,
    },
    trustProxy: boolean(env, 'TRUST_PROXY', false),
    shutdownTimeoutMs: integer(env, 'SHUTDOWN_TIMEOUT_SECONDS', 10, 0, 3600) * 1000,
    metricsToken: metricsToken(env.METRICS_TOKEN),
    metricsPerOrganization: boolean(env, 'METRICS_PER_ORGANIZATION', false),
    allocationCacheUsers: integer(env, 'ALLOCATION_CACHE_USERS', DEFAULT_ALLOCATION_CACHE_USERS, 0, 100_000_000),
    clockSkewMaxMs: integer(env, 'CLOCK_SKEW_MAX_SECONDS', 60, 1, 86_400) * 1000,
    webhooks: webhookOptions(env),
    oidc: oidcOptions(env),
  };
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

/** OIDC_*: null without OIDC_ISSUERS; each error names its variable. */
function oidcOptions(env: NodeJS.ProcessEnv): OidcOptions | null {
  const issuers = (env.OIDC_ISSUERS ?? '').split(/[\s,]+/).filter((v) => v !== '');
  if (issuers.length === 0) return null;
  for (const issuer of issuers) {
    let url: URL;
    try {
      url = new URL(issuer);
    } catch {
      throw new ConfigError('OIDC_ISSUERS', `"${issuer}" is not a URL`);
    }
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOOPBACK.has(url.hostname))) {
      throw new ConfigError('OIDC_ISSUERS', `"${issuer}" must be an https:// URL (http:// only on loopback)`);
    }
  }
  const audience = env.OIDC_AUDIENCE?.trim() ?? '';
  if (audience === '')
    throw new ConfigError('OIDC_AUDIENCE', 'must be set when OIDC_ISSUERS is (the aud value tokens for this gateway carry)');
  const claim = (name: string, fallback: string) => {
    const value = env[name]?.trim() || fallback;
    if (!/^[A-Za-z0-9_:./-]{1,100}$/.test(value)) throw new ConfigError(name, `"${value}" is not a claim name`);
    return value;
  };
  let roleMap: ReadonlyMap<string, ApiRole> = defaultRoleMap();
  const rawMap = env.OIDC_ROLE_MAP?.trim() ?? '';
  if (rawMap !== '') {
    const map = new Map<string, ApiRole>();
    for (const pair of rawMap
      .split(',')
      .map((p) => p.trim())
      .filter((p) => p !== '')) {
      const at = pair.lastIndexOf('=');
      const value = pair.slice(0, at).trim();
      const role = API_ROLES.find((r) => r === pair.slice(at + 1).trim());
      if (at <= 0 || value === '' || !role) {
        throw new ConfigError('OIDC_ROLE_MAP', `"${pair}" must be <claim value>=<${API_ROLES.join('|')}>`);
      }
      map.set(value, role);
    }
    roleMap = map;
  }
  const rawAlgorithms = env.OIDC_ALGORITHMS?.trim() ?? '';
  const algorithms: OidcAlgorithm[] = [];
  for (const alg of rawAlgorithms === '' ? ['RS256', 'PS256', 'ES256', 'EdDSA'] : rawAlgorithms.split(/[\s,]+/).filter((a) => a !== '')) {
    const known = ASYMMETRIC_ALGORITHMS.find((a) => a === alg);
    if (!known)
      throw new ConfigError('OIDC_ALGORITHMS', `"${alg}" is not allowed: one of ${ASYMMETRIC_ALGORITHMS.join(', ')} (never none or HS*)`);
    algorithms.push(known);
  }
  const adminAmr = env.OIDC_ADMIN_AMR?.trim() || 'hwk';
  if (!/^[A-Za-z0-9_-]{1,40}$/.test(adminAmr)) throw new ConfigError('OIDC_ADMIN_AMR', `"${adminAmr}" is not an amr value`);
  const dashboardClientId = env.OIDC_DASHBOARD_CLIENT_ID?.trim() || null;
  if (dashboardClientId !== null && !/^[\x21-\x7e]{1,200}$/.test(dashboardClientId)) {
    throw new ConfigError('OIDC_DASHBOARD_CLIENT_ID', 'must be printable ASCII without spaces');
  }
  return {
    issuers,
    audience,
    organizationClaim: claim('OIDC_ORGANIZATION_CLAIM', 'org'),
    rolesClaim: claim('OIDC_ROLES_CLAIM', 'roles'),
    roleMap,
    algorithms,
    clockSkewSeconds: integer(env, 'OIDC_CLOCK_SKEW_SECONDS', 60, 0, 600),
    jwksCacheSeconds: integer(env, 'OIDC_JWKS_CACHE_SECONDS', 600, 1, 86_400),
    jwksCooldownSeconds: integer(env, 'OIDC_JWKS_COOLDOWN_SECONDS', 30, 0, 3_600),
    adminAmr,
    dashboardClientId,
    dashboardScope: env.OIDC_DASHBOARD_SCOPE?.trim() || 'openid',
  };
}

function metricsToken(value: string | undefined): string | null {
  if (value === undefined || value === '') return null;
  if (value.length < 16) throw new ConfigError('METRICS_TOKEN', 'must be at least 16 characters long');
  return value;
}

function webhookOptions(env: NodeJS.ProcessEnv): WebhookOptions {
  const d = DEFAULT_WEBHOOK_OPTIONS;
  const backoffBaseMs = integer(env, 'WEBHOOK_BACKOFF_BASE_MS', d.backoffBaseMs, 1, 86_400_000);
  const backoffMaxMs = integer(env, 'WEBHOOK_BACKOFF_MAX_MS', d.backoffMaxMs, 1, 86_400_000);
  if (backoffMaxMs < backoffBaseMs)
    throw new ConfigError('WEBHOOK_BACKOFF_MAX_MS', `must be at least WEBHOOK_BACKOFF_BASE_MS (${backoffBaseMs})`);
  return {
    pollMs: integer(env, 'WEBHOOK_POLL_MS', d.pollMs, 0, 3_600_000),
    retryMs: integer(env, 'WEBHOOK_RETRY_SECONDS', d.retryMs / 1000, 0, 30 * 86_400) * 1000,
    backoffBaseMs,
    backoffMaxMs,
    timeoutMs: integer(env, 'WEBHOOK_TIMEOUT_MS', d.timeoutMs, 100, 120_000),
    allowPrivate: boolean(env, 'WEBHOOK_ALLOW_PRIVATE', d.allowPrivate),
    batchSize: d.batchSize,
  };
}
