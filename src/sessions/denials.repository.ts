import { sql } from 'kysely';
import type { Executor } from '../db/database.ts';

/**
 * Distinct users refused a session in [from, to), by product (null: the
 * denial named none) and code: a range of the partial index
 * `events_session_denied_idx` (migration 0010).
 */
export async function deniedUsersBetween(
  db: Executor,
  organizationId: string,
  from: Date,
  to: Date,
): Promise<{ product: string | null; code: string; users: number }[]> {
  const rows = await db
    .selectFrom('events')
    .select(['product_code', 'denial_code', sql<string>`count(distinct user_id)::text`.as('users')])
    .where('organization_id', '=', organizationId)
    .where('type', '=', 'SESSION_DENIED')
    .where('at', '>=', from)
    .where('at', '<', to)
    .groupBy(['product_code', 'denial_code'])
    .execute();
  return rows.map((r) => ({ product: r.product_code, code: r.denial_code ?? '', users: Number(r.users) }));
}
