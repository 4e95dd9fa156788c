import type { Executor } from '../db/database.ts';
import type { EventRow } from '../db/schema.ts';
import { newId } from '../ids.ts';
import type { Page } from '../schema/pagination.ts';

/** What an event says; who did it comes from the viewer (R-EVENT-1). */
export interface EventInput {
  organizationId: string;
  type: string;
  at: Date;
  userId?: string | null;
  productCode?: string | null;
  detail?: string | null;
  actor: string;
  apiTokenId: string | null;
}

/** Append-only: the event log is only ever inserted into. */
export async function appendEvents(db: Executor, events: readonly EventInput[]): Promise<EventRow[]> {
  if (events.length === 0) return [];
  const rows: EventRow[] = events.map((e) => ({
    organization_id: e.organizationId,
    id: newId(e.at),
    at: e.at,
    type: e.type,
    user_id: e.userId ?? null,
    product_code: e.productCode ?? null,
    detail: e.detail ?? null,
    api_token_id: e.apiTokenId,
    actor: e.actor,
  }));
  await db.insertInto('events').values(rows).execute();
  return rows;
}

/** Newest first. */
export function pageOfEvents(db: Executor, organizationId: string, page: Page): Promise<EventRow[]> {
  let q = db.selectFrom('events').selectAll().where('organization_id', '=', organizationId);
  if (page.afterId) q = q.where('id', '<', page.afterId);
  return q.orderBy('id', 'desc').limit(page.limit + 1).execute();
}
