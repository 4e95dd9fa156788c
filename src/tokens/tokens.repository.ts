import type { Executor } from '../db/database.ts';
import type { ApiTokenRow } from '../db/schema.ts';

export function findActiveTokenByHash(db: Executor, tokenHash: string): Promise<ApiTokenRow | undefined> {
  return db.selectFrom('api_tokens').selectAll().where('token_hash', '=', tokenHash).where('revoked_at', 'is', null).executeTakeFirst();
}

export function findToken(db: Executor, id: string, organizationId: string | null): Promise<ApiTokenRow | undefined> {
  let q = db.selectFrom('api_tokens').selectAll().where('id', '=', id);
  if (organizationId) q = q.where('organization_id', '=', organizationId);
  return q.executeTakeFirst();
}

export async function insertToken(db: Executor, row: ApiTokenRow): Promise<void> {
  await db.insertInto('api_tokens').values(row).execute();
}

export async function revokeToken(db: Executor, organizationId: string, id: string, at: Date): Promise<void> {
  await db.updateTable('api_tokens').set({ revoked_at: at }).where('organization_id', '=', organizationId).where('id', '=', id).execute();
}
