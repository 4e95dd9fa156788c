import { generateToken, hashToken, sameSecret, secretDigest, type ApiRole } from '../auth/tokens.ts';
import { actorOf, authorize, requireAuthenticated, viewerOrganization, type Viewer } from '../auth/viewer.ts';
import type { Context } from '../context.ts';
import type { Executor } from '../db/database.ts';
import type { ApiTokenRow } from '../db/schema.ts';
import type { Clock } from '../clock.ts';
import { withTransaction } from '../db/transaction.ts';
import { badInput, notFound, unauthenticated } from '../errors.ts';
import type { Page } from '../db/pages.ts';
import { appendEvents } from '../events/events.repository.ts';
import { isId, newId } from '../ids.ts';
import { getOrganization } from '../tenancy/access.ts';
import { cleanOptionalText } from '../tenancy/validate.ts';
import { TOKEN_CHANNEL, type TokenCache } from './token-cache.ts';
import * as repo from './tokens.repository.ts';

/** The longest life a new token may be given (createApiToken's expiresAt / expiresInDays). */
export const MAX_TOKEN_LIFETIME_DAYS = 3650;
const DAY_MS = 86_400_000;

/**
 * Turns an Authorization header into a viewer. No header: anonymous (may read
 * catalogs and introspect). A header that is not a live token (unknown,
 * revoked or expired at `clock`'s now): UNAUTHENTICATED, so such a token never
 * silently degrades to anonymous. A use is recorded in `last_used_at` about
 * once a minute per token (TokenCache.recordUse).
 */
export async function resolveViewer(
  db: Executor,
  clock: Clock,
  /** The operator token, or its `secretDigest` (computed once by the caller). */
  operatorToken: string | Buffer,
  authorization: string | null | undefined,
  tokens: TokenCache,
): Promise<Viewer> {
  if (authorization == null || authorization.trim() === '') return { kind: 'anonymous' };
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization.trim());
  if (!match?.[1]) throw unauthenticated('the Authorization header must be "Bearer <token>"');
  const digest = secretDigest(match[1]);
  if (sameSecret(digest, operatorToken)) return { kind: 'operator' };
  const hash = digest.toString('hex');
  const row = await tokens.lookup(db, hash);
  if (!row) throw unauthenticated('the API token is unknown or revoked');
  const now = clock.now();
  if (row.expires_at !== null && row.expires_at.getTime() <= now.getTime()) throw unauthenticated('the API token has expired');
  const role = repo.apiRoleOf(row.role);
  if (!role) throw unauthenticated('the API token has an unknown role');
  await tokens.recordUse(db, row, now);
  return { kind: 'token', tokenId: row.id, organizationId: row.organization_id, role };
}

export interface CreateApiTokenInput {
  organizationId: string;
  role: ApiRole;
  label?: string | null;
  expiresAt?: Date | null;
  expiresInDays?: number | null;
}

/** The expiry a new token asks for at `now` (null: never); a past, absurd or doubly given expiry is BAD_USER_INPUT naming the field. */
export function tokenExpiry(input: Pick<CreateApiTokenInput, 'expiresAt' | 'expiresInDays'>, now: Date): Date | null {
  const { expiresAt, expiresInDays } = input;
  if (expiresAt != null && expiresInDays != null) throw badInput('input.expiresInDays', 'give either expiresAt or expiresInDays, not both');
  const latest = now.getTime() + MAX_TOKEN_LIFETIME_DAYS * DAY_MS;
  if (expiresInDays != null) {
    if (!Number.isInteger(expiresInDays) || expiresInDays < 1 || expiresInDays > MAX_TOKEN_LIFETIME_DAYS) {
      throw badInput('input.expiresInDays', `must be a whole number of days from 1 to ${MAX_TOKEN_LIFETIME_DAYS}`);
    }
    return new Date(now.getTime() + expiresInDays * DAY_MS);
  }
  if (expiresAt != null) {
    if (expiresAt.getTime() <= now.getTime()) throw badInput('input.expiresAt', `must be in the future (now is ${now.toISOString()})`);
    if (expiresAt.getTime() > latest)
      throw badInput('input.expiresAt', `must be at most ${MAX_TOKEN_LIFETIME_DAYS} days from now (${new Date(latest).toISOString()})`);
    return expiresAt;
  }
  return null;
}

export async function createApiToken(ctx: Context, input: CreateApiTokenInput): Promise<{ token: string; apiToken: repo.ApiToken }> {
  return withTransaction(ctx.db, async (trx) => {
    // The operator creates any organization's tokens; an ADMIN token those of its own organization.
    const org = await getOrganization(ctx, input.organizationId, 'write', trx);
    const expiresAt = tokenExpiry(input, ctx.clock.now());
    const token = generateToken();
    const row: ApiTokenRow = {
      organization_id: org.id,
      id: newId(ctx.clock.now()),
      role: input.role,
      label: cleanOptionalText('input.label', input.label),
      token_hash: hashToken(token),
      created_at: ctx.clock.now(),
      revoked_at: null,
      expires_at: expiresAt,
      last_used_at: null,
    };
    await repo.insertToken(trx, row);
    await appendEvents(trx, [
      {
        organizationId: org.id,
        type: 'API_TOKEN_CREATED',
        at: ctx.clock.now(),
        detail: `${row.role}${row.label ? ` "${row.label}"` : ''} (${row.id})`,
        ...actorOf(ctx.viewer),
      },
    ]);
    return { token, apiToken: repo.toApiToken(row) };
  });
}

export async function revokeApiToken(ctx: Context, input: { apiTokenId: string }): Promise<string> {
  const id = await withTransaction(ctx.db, async (trx) => {
    requireAuthenticated(ctx.viewer);
    const row = isId(input.apiTokenId) ? await repo.findToken(trx, input.apiTokenId, viewerOrganization(ctx.viewer)) : undefined;
    if (!row) throw notFound('API token', input.apiTokenId);
    authorize(ctx.viewer, row.organizationId, 'write', 'API token', input.apiTokenId);
    if (row.revokedAt === null) {
      await repo.revokeToken(trx, row.organizationId, row.id, ctx.clock.now());
      await appendEvents(trx, [
        { organizationId: row.organizationId, type: 'API_TOKEN_REVOKED', at: ctx.clock.now(), detail: row.id, ...actorOf(ctx.viewer) },
      ]);
      // Every instance forgets the token and ends its live streams when this commits (token caches, LiveConnections).
      // Unlike live notices (db/announcer.ts) this NOTIFY stays in the transaction: delivered with the commit or
      // not at all, never lost to a process dying in between; revocations are rare, so their commits' NOTIFY
      // lock costs nothing measurable. A retried run (withTransaction) rolled back its NOTIFY with the rest.
      await repo.notifyTokenChange(trx, TOKEN_CHANNEL, row.id);
    }
    return row.id;
  });
  ctx.tokens.revoked(id);
  return id;
}

/**
 * A page of an organization's tokens, newest first (limit + 1 rows). Who may
 * ask is the reach table's `Organization.apiTokens` (ADMIN and the operator),
 * and the organization was authorized when it was read (R-SEC-2).
 */
export async function listApiTokens(ctx: Context, organizationId: string, page: Page): Promise<repo.ApiToken[]> {
  return repo.pageOfTokens(ctx.db, organizationId, page);
}

/** A token by id after a change of it (the caller was authorized by the change); undefined when it is gone. */
export async function apiTokenById(ctx: Context, id: string): Promise<repo.ApiToken | undefined> {
  return (await repo.tokensByIds(ctx.db, [id]))[0];
}
