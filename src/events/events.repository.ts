import { sql } from 'kysely';
import type { Executor } from '../db/database.ts';
import type { EventRow } from '../db/schema.ts';
import { newId } from '../ids.ts';
import type { Page } from '../db/pages.ts';

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

const EVENT_CHUNK = 1000;

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
  // 9 parameters a row: chunks stay far below the protocol's 65,535 (and PGlite's 32,767).
  for (let i = 0; i < rows.length; i += EVENT_CHUNK)
    await db
      .insertInto('events')
      .values(rows.slice(i, i + EVENT_CHUNK))
      .execute();
  await announce(db, rows);
  return rows;
}

/** The NOTIFY channel of live updates; every gateway process LISTENs on it. */
export const LIVE_CHANNEL = 'gateway_live';

/** What a notification carries: the organization and its new events (ids, or an id range for large batches). */
export interface LiveNotice {
  o: string;
  ids?: string[];
  from?: string;
  to?: string;
}

/**
 * NOTIFY in the writing transaction: PostgreSQL (and PGlite) deliver it only
 * on commit, so listeners never see events of a rolled-back change, and every
 * instance learns of it (R-LIVE-1). Payloads stay far below NOTIFY's 8000 bytes.
 */
async function announce(db: Executor, rows: readonly EventRow[]): Promise<void> {
  const byOrg = new Map<string, string[]>();
  for (const row of rows) {
    const ids = byOrg.get(row.organization_id);
    if (ids) ids.push(row.id);
    else byOrg.set(row.organization_id, [row.id]);
  }
  for (const [o, ids] of byOrg) {
    // Ids of one call are increasing (one process, one clock), so a range names them all.
    const notice: LiveNotice = ids.length <= 100 ? { o, ids } : { o, from: ids[0], to: ids.at(-1) };
    await sql`select pg_notify(${LIVE_CHANNEL}, ${JSON.stringify(notice)})`.execute(db);
  }
}

export function eventsByIds(db: Executor, organizationId: string, ids: readonly string[]): Promise<EventRow[]> {
  return db.selectFrom('events').selectAll().where('organization_id', '=', organizationId).where('id', 'in', ids).orderBy('id').execute();
}

export function eventsInRange(db: Executor, organizationId: string, from: string, to: string): Promise<EventRow[]> {
  return db
    .selectFrom('events')
    .selectAll()
    .where('organization_id', '=', organizationId)
    .where('id', '>=', from)
    .where('id', '<=', to)
    .orderBy('id')
    .execute();
}

/** Events after `afterId` (catching up after a lost LISTEN connection), oldest first. */
export function eventsAfter(db: Executor, organizationId: string, afterId: string, limit: number): Promise<EventRow[]> {
  return db
    .selectFrom('events')
    .selectAll()
    .where('organization_id', '=', organizationId)
    .where('id', '>', afterId)
    .orderBy('id')
    .limit(limit)
    .execute();
}

/** Newest first. */
export function pageOfEvents(db: Executor, organizationId: string, page: Page): Promise<EventRow[]> {
  let q = db.selectFrom('events').selectAll().where('organization_id', '=', organizationId);
  if (page.afterId) q = q.where('id', '<', page.afterId);
  return q
    .orderBy('id', 'desc')
    .limit(page.limit + 1)
    .execute();
}
