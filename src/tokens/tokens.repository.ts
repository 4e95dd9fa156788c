import { sql } from 'kysely';
import type { Executor } from '../db/database.ts';
import type { ApiTokenRow } from '../db/schema.ts';
import type { Page } from '../db/pages.ts';
import { API_ROLES, type ApiRole } from '../auth/tokens.ts';

/** An organization's API token as the gateway shows it: never its hash. */
export interface ApiToken {
  id: string;
  organizationId: string;
  role: ApiRole;
  label: string | null;
  createdAt: Date;
  revokedAt: Date | null;
  /** From this instant on the token is refused; null: never. */
  expiresAt: Date | null;
  lastUsedAt: Date | null;
}

/** The stored role as an ApiRole; a value the enum does not know is a broken row, not a client error. */
export function apiRoleOf(stored: string): ApiRole | null {
  return API_ROLES.find((r) => r === stored) ?? null;
}

/** The one row → domain mapping of `api_tokens`. */
export function toApiToken(row: ApiTokenRow): ApiToken {
  const role = apiRoleOf(row.role);
  if (role === null) throw new Error(`stored API role ${row.role} of token ${row.id} is not an ApiRole`);
  return {
    id: row.id,
    organizationId: row.organization_id,
    role,
    label: row.label,
    createdAt: row.created_at,
    revokedAt: row.revoked_at,
    expiresAt: row.expires_at,
    lastUsedAt: row.last_used_at,
  };
}

export function findActiveTokenByHash(db: Executor, tokenHash: string): Promise<ApiTokenRow | undefined> {
  return db.selectFrom('api_tokens').selectAll().where('token_hash', '=', tokenHash).where('revoked_at', 'is', null).executeTakeFirst();
}

export async function findToken(db: Executor, id: string, organizationId: string | null): Promise<ApiToken | undefined> {
  let q = db.selectFrom('api_tokens').selectAll().where('id', '=', id);
  if (organizationId) q = q.where('organization_id', '=', organizationId);
  const row = await q.executeTakeFirst();
  return row && toApiToken(row);
}

export async function insertToken(db: Executor, row: ApiTokenRow): Promise<void> {
  await db.insertInto('api_tokens').values(row).execute();
}

export async function revokeToken(db: Executor, organizationId: string, id: string, at: Date): Promise<void> {
  await db.updateTable('api_tokens').set({ revoked_at: at }).where('organization_id', '=', organizationId).where('id', '=', id).execute();
}

/** An organization's tokens, newest first (ids sort by creation), limit + 1 rows for the connection. */
export async function pageOfTokens(db: Executor, organizationId: string, page: Page): Promise<ApiToken[]> {
  let q = db.selectFrom('api_tokens').selectAll().where('organization_id', '=', organizationId);
  if (page.afterId) q = q.where('id', '<', page.afterId);
  const rows = await q
    .orderBy('id', 'desc')
    .limit(page.limit + 1)
    .execute();
  return rows.map(toApiToken);
}

/**
 * Records a use at `at` unless one at most `granularityMs` earlier is
 * already stored (another instance may have written it): at most one write
 * per token and granularity, whatever the number of instances.
 */
export async function recordTokenUse(db: Executor, organizationId: string, id: string, at: Date, granularityMs: number): Promise<void> {
  await db
    .updateTable('api_tokens')
    .set({ last_used_at: at })
    .where('organization_id', '=', organizationId)
    .where('id', '=', id)
    .where((eb) => eb.or([eb('last_used_at', 'is', null), eb('last_used_at', '<=', new Date(at.getTime() - granularityMs))]))
    .execute();
}

/** Revocation and expiry of the given tokens (a missing id is a token deleted with its organization). */
export function tokenStates(
  db: Executor,
  ids: readonly string[],
): Promise<{ id: string; revoked_at: Date | null; expires_at: Date | null }[]> {
  if (ids.length === 0) return Promise.resolve([]);
  return db.selectFrom('api_tokens').select(['id', 'revoked_at', 'expires_at']).where('id', 'in', ids).execute();
}

/**
 * Tells every instance (LISTEN on `channel`) that token `id` changed; PostgreSQL
 * delivers it when the surrounding transaction commits, and not at all on rollback.
 */
export async function notifyTokenChange(db: Executor, channel: string, id: string): Promise<void> {
  await sql`select pg_notify(${channel}, ${id})`.execute(db);
}

/** Tokens by id, of any organization (callers filter by the viewer's organization). */
export async function tokensByIds(db: Executor, ids: readonly string[]): Promise<ApiToken[]> {
  if (ids.length === 0) return [];
  return (await db.selectFrom('api_tokens').selectAll().where('id', 'in', ids).execute()).map(toApiToken);
}
