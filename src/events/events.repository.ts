import { type RawBuilder, sql } from 'kysely';
import type { Executor } from '../db/database.ts';
import { announceAfterCommit } from '../db/transaction.ts';
import type { EventRow } from '../db/schema.ts';
import { newId } from '../ids.ts';
import type { Page } from '../db/pages.ts';
import { eventOf, type EventType, type LicenseEvent } from './event.ts';

/** What an event says; who did it comes from the viewer (R-EVENT-1). */
export interface EventInput {
  organizationId: string;
  type: EventType;
  at: Date;
  userId?: string | null;
  productCode?: string | null;
  detail?: string | null;
  /** SESSION_DENIED: the DenialCode of the refused start. */
  denialCode?: string | null;
  actor: string;
  apiTokenId: string | null;
}

const EVENT_CHUNK = 1000;

/** The row of a new event (its id from its instant): every event insert builds its row here. */
export function eventRow(e: EventInput, id: string = newId(e.at)): LicenseEvent {
  return {
    organization_id: e.organizationId,
    id,
    at: e.at,
    type: e.type,
    user_id: e.userId ?? null,
    product_code: e.productCode ?? null,
    detail: e.detail ?? null,
    api_token_id: e.apiTokenId,
    actor: e.actor,
    denial_code: e.denialCode ?? null,
  };
}

/** Append-only: the event log is only ever inserted into. */
export async function appendEvents(db: Executor, events: readonly EventInput[]): Promise<LicenseEvent[]> {
  if (events.length === 0) return [];
  const rows = events.map((e) => eventRow(e));
  // 10 parameters a row: chunks stay far below the protocol's 65,535 (and PGlite's 32,767).
  for (let i = 0; i < rows.length; i += EVENT_CHUNK)
    await db
      .insertInto('events')
      .values(rows.slice(i, i + EVENT_CHUNK))
      .execute();
  announce(db, rows);
  return rows;
}

export const EVENT_COLUMNS = [
  'organization_id',
  'id',
  'at',
  'type',
  'user_id',
  'product_code',
  'detail',
  'api_token_id',
  'actor',
  'denial_code',
] as const;

/**
 * The insert of one event inside a larger statement (the one-statement
 * session start): `insert into events … select <row> from <source>`, the
 * row built by `eventRow`, with `computed` columns given as SQL over the
 * source's columns (values known only to the statement).
 */
export function insertEventFrom(
  row: EventRow,
  source: string,
  computed: Partial<Record<(typeof EVENT_COLUMNS)[number], RawBuilder<unknown>>>,
): RawBuilder<unknown> {
  const values = EVENT_COLUMNS.map((column) => computed[column] ?? sql`${row[column]}`);
  return sql`insert into events (${sql.join(EVENT_COLUMNS.map((c) => sql.ref(c)))})
    select ${sql.join(values)} from ${sql.table(source)}`;
}

export { LIVE_CHANNEL, parseNotice, type LiveNotice } from '../db/announcer.ts';

/**
 * Announces new events of one organization (R-LIVE-1) after the commit
 * (`announceAfterCommit`; see db/announcer.ts for why never by a NOTIFY
 * inside the transaction): `db` is the database itself (the statement has
 * committed) or a transaction run by `withTransaction` (db/transaction.ts),
 * which announces at its commit and drops the notices of a rollback. Any
 * other transaction is a programming error: it throws, so the change rolls
 * back and the test that runs it fails, instead of a silent NOTIFY that
 * serializes the database's commits or a notice that is never sent.
 */
export function announceEvents(db: Executor, organizationId: string, ids: readonly string[]): void {
  if (ids.length === 0 || announceAfterCommit(db, organizationId, ids)) return;
  throw new Error('events written in a transaction not run by withTransaction (db/transaction.ts): their live notices would be lost');
}

function announce(db: Executor, rows: readonly EventRow[]): void {
  const byOrg = new Map<string, string[]>();
  for (const row of rows) {
    const ids = byOrg.get(row.organization_id);
    if (ids) ids.push(row.id);
    else byOrg.set(row.organization_id, [row.id]);
  }
  for (const [o, ids] of byOrg) announceEvents(db, o, ids);
}

export async function eventsByIds(db: Executor, organizationId: string, ids: readonly string[]): Promise<LicenseEvent[]> {
  const rows = await db
    .selectFrom('events')
    .selectAll()
    .where('organization_id', '=', organizationId)
    .where('id', 'in', ids)
    .orderBy('id')
    .execute();
  return rows.map(eventOf);
}

/**
 * Events by id alone, of any organization (the operator's Query.node). The
 * events table is keyed by (organization, id) with no index on the id alone:
 * one key lookup per organization (lateral), never a scan of the log.
 */
export async function eventsByIdsInAnyOrganization(db: Executor, ids: readonly string[]): Promise<LicenseEvent[]> {
  if (ids.length === 0) return [];
  const rows = await db
    .selectFrom('organizations as o')
    .innerJoinLateral(
      (eb) => eb.selectFrom('events').selectAll().whereRef('events.organization_id', '=', 'o.id').where('events.id', 'in', ids).as('e'),
      (join) => join.onTrue(),
    )
    .selectAll('e')
    .execute();
  return rows.map(eventOf);
}

export async function eventsInRange(db: Executor, organizationId: string, from: string, to: string): Promise<LicenseEvent[]> {
  const rows = await db
    .selectFrom('events')
    .selectAll()
    .where('organization_id', '=', organizationId)
    .where('id', '>=', from)
    .where('id', '<=', to)
    .orderBy('id')
    .execute();
  return rows.map(eventOf);
}

/**
 * The ids of the events whose ids sort after `afterId`, in id order, at most
 * `limit`: what the live hub compares with the ids it delivered, to find
 * events whose notice never came (live/hub.ts). Read from the primary key
 * alone (organization_id, id).
 */
export async function eventIdsAfter(db: Executor, organizationId: string, afterId: string, limit: number): Promise<string[]> {
  const rows = await db
    .selectFrom('events')
    .select('id')
    .where('organization_id', '=', organizationId)
    .where('id', '>', afterId)
    .orderBy('id')
    .limit(limit)
    .execute();
  return rows.map((r) => r.id);
}

/** Events after `afterId` (a licenseEvents replay), oldest first. */
export async function eventsAfter(db: Executor, organizationId: string, afterId: string, limit: number): Promise<LicenseEvent[]> {
  const rows = await db
    .selectFrom('events')
    .selectAll()
    .where('organization_id', '=', organizationId)
    .where('id', '>', afterId)
    .orderBy('id')
    .limit(limit)
    .execute();
  return rows.map(eventOf);
}

/** Which events a page lists: all of one organization's, or those matching every given filter. */
export interface EventFilter {
  types?: readonly EventType[] | null;
  userId?: string | null;
  productCode?: string | null;
  /** [from, to) on the event's instant. */
  from?: Date | null;
  to?: Date | null;
}

function filteredEvents(db: Executor, organizationId: string, filter: EventFilter) {
  let q = db.selectFrom('events').where('organization_id', '=', organizationId);
  if (filter.types && filter.types.length > 0) q = q.where('type', 'in', [...filter.types]);
  if (filter.userId != null) q = q.where('user_id', '=', filter.userId);
  if (filter.productCode != null) q = q.where('product_code', '=', filter.productCode);
  if (filter.from != null) q = q.where('at', '>=', filter.from);
  if (filter.to != null) q = q.where('at', '<', filter.to);
  return q;
}

/**
 * Newest first: a keyset page on the id (ids sort by time), the filters in
 * the same WHERE, so a cursor continues exactly after the last event of the
 * previous page of the same filter.
 */
export async function pageOfEvents(db: Executor, organizationId: string, page: Page, filter: EventFilter = {}): Promise<LicenseEvent[]> {
  let q = filteredEvents(db, organizationId, filter).selectAll();
  if (page.afterId) q = q.where('id', '<', page.afterId);
  const rows = await q
    .orderBy('id', 'desc')
    .limit(page.limit + 1)
    .execute();
  return rows.map(eventOf);
}

/** Events matching `filter`, on all pages. */
export async function countEvents(db: Executor, organizationId: string, filter: EventFilter = {}): Promise<number> {
  const row = await filteredEvents(db, organizationId, filter)
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}
