import { sql } from 'kysely';
import { API_ROLES, generateToken, hashToken, sameSecret, type ApiRole } from '../auth/tokens.ts';
import { actorOf, authorize, requireAuthenticated, viewerOrganization, type Viewer } from '../auth/viewer.ts';
import type { Context } from '../context.ts';
import type { Executor } from '../db/database.ts';
import type { ApiTokenRow } from '../db/schema.ts';
import { notFound, unauthenticated } from '../errors.ts';
import { appendEvents } from '../events/events.repository.ts';
import { isId, newId } from '../ids.ts';
import { getOrganization } from '../tenancy/access.ts';
import { cleanOptionalText } from '../tenancy/validate.ts';
import { TOKEN_CHANNEL, type TokenCache } from './token-cache.ts';
import * as repo from './tokens.repository.ts';

/**
 * Turns an Authorization header into a viewer. No header: anonymous (may read
 * catalogs and introspect). A header that is not a live token: UNAUTHENTICATED,
 * so a revoked token never silently degrades to anonymous.
 */
export async function resolveViewer(db: Executor, operatorToken: string, authorization: string | null | undefined, tokens?: TokenCache): Promise<Viewer> {
  if (authorization == null || authorization.trim() === '') return { kind: 'anonymous' };
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization.trim());
  if (!match?.[1]) throw unauthenticated('the Authorization header must be "Bearer <token>"');
  const secret = match[1];
  if (sameSecret(secret, operatorToken)) return { kind: 'operator' };
  const hash = hashToken(secret);
  const row = tokens ? await tokens.lookup(db, hash) : await repo.findActiveTokenByHash(db, hash);
  if (!row) throw unauthenticated('the API token is unknown or revoked');
  const role = API_ROLES.find((r) => r === row.role);
  if (!role) throw unauthenticated('the API token has an unknown role');
  return { kind: 'token', tokenId: row.id, organizationId: row.organization_id, role };
}

export async function createApiToken(ctx: Context, input: { organizationId: string; role: ApiRole; label?: string | null }): Promise<{ token: string; apiToken: ApiTokenRow }> {
  return ctx.db.transaction().execute(async (trx) => {
    // The operator creates any organization's tokens; an ADMIN token those of its own organization.
    const org = await getOrganization(ctx, input.organizationId, 'write', trx);
    const token = generateToken();
    const row: ApiTokenRow = {
      organization_id: org.id,
      id: newId(ctx.clock.now()),
      role: input.role,
      label: cleanOptionalText('input.label', input.label),
      token_hash: hashToken(token),
      created_at: ctx.clock.now(),
      revoked_at: null,
    };
    await repo.insertToken(trx, row);
    await appendEvents(trx, [{ organizationId: org.id, type: 'API_TOKEN_CREATED', at: ctx.clock.now(), detail: `${row.role}${row.label ? ` "${row.label}"` : ''} (${row.id})`, ...actorOf(ctx.viewer) }]);
    return { token, apiToken: row };
  });
}

export async function revokeApiToken(ctx: Context, input: { apiTokenId: string }): Promise<string> {
  const id = await ctx.db.transaction().execute(async (trx) => {
    requireAuthenticated(ctx.viewer);
    const row = isId(input.apiTokenId) ? await repo.findToken(trx, input.apiTokenId, viewerOrganization(ctx.viewer)) : undefined;
    if (!row) throw notFound('API token', input.apiTokenId);
    authorize(ctx.viewer, row.organization_id, 'write', 'API token', input.apiTokenId);
    if (row.revoked_at === null) {
      await repo.revokeToken(trx, row.organization_id, row.id, ctx.clock.now());
      await appendEvents(trx, [{ organizationId: row.organization_id, type: 'API_TOKEN_REVOKED', at: ctx.clock.now(), detail: row.id, ...actorOf(ctx.viewer) }]);
      // Every instance forgets the token when this commits (token caches).
      await sql`select pg_notify(${TOKEN_CHANNEL}, ${row.id})`.execute(trx);
    }
    return row.id;
  });
  ctx.tokens.forget(id);
  return id;
}
