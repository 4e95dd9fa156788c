import { sql } from 'kysely';
import type { Executor } from '../db/database.ts';
import type { SeatPoolRow, SessionRow, SessionSeatRow } from '../db/schema.ts';

/* All SQL for seat pools, sessions and the usage series. */

export interface PoolCounter {
  in_use: number;
  capacity: number;
  emergency_capacity: number;
}

/**
 * Takes one seat in one statement: the row lock of the UPDATE serializes
 * every taker of this pool on every connection and instance, and the WHERE
 * refuses a seat beyond capacity + emergency unless overage is allowed
 * (R-CONC-4). Null: no seat. Also keeps today's peak.
 */
export async function takeSeat(db: Executor, organizationId: string, product: string, today: string): Promise<PoolCounter | null> {
  const row = await db
    .updateTable('seat_pools')
    .set({
      in_use: sql`in_use + 1`,
      peak_today: sql`case when peak_day = ${today}::date then greatest(peak_today, in_use + 1) else in_use + 1 end`,
      peak_day: sql`${today}::date`,
    })
    .where('organization_id', '=', organizationId)
    .where('product_code', '=', product)
    .where(sql<boolean>`(in_use < capacity + emergency_capacity or overage_allowed)`)
    .returning(['in_use', 'capacity', 'emergency_capacity'])
    .executeTakeFirst();
  return row ?? null;
}

export async function releaseSeat(db: Executor, organizationId: string, product: string, today: string): Promise<PoolCounter | null> {
  const row = await db
    .updateTable('seat_pools')
    .set({
      in_use: sql`greatest(in_use - 1, 0)`,
      peak_today: sql`case when peak_day = ${today}::date then peak_today else greatest(in_use - 1, 0) end`,
      peak_day: sql`${today}::date`,
    })
    .where('organization_id', '=', organizationId)
    .where('product_code', '=', product)
    .returning(['in_use', 'capacity', 'emergency_capacity'])
    .executeTakeFirst();
  return row ?? null;
}

export async function recordUsage(db: Executor, organizationId: string, at: Date, changes: readonly { product: string; counter: PoolCounter }[]): Promise<void> {
  if (changes.length === 0) return;
  await db
    .insertInto('usage_changes')
    .values(changes.map((c) => ({ organization_id: organizationId, product_code: c.product, at, in_use: c.counter.in_use, capacity: c.counter.capacity, emergency_capacity: c.counter.emergency_capacity })))
    .execute();
}

export function poolsOfOrganizations(db: Executor, organizationIds: readonly string[]): Promise<SeatPoolRow[]> {
  return db.selectFrom('seat_pools').selectAll().where('organization_id', 'in', organizationIds).orderBy('product_code').execute();
}

export function grantsOfUser(db: Executor, organizationId: string, userId: string): Promise<{ product_code: string; status: string }[]> {
  return db.selectFrom('user_grants').select(['product_code', 'status']).where('organization_id', '=', organizationId).where('user_id', '=', userId).execute();
}

export function openSessionOf(db: Executor, organizationId: string, userId: string): Promise<SessionRow | undefined> {
  return db.selectFrom('sessions').selectAll().where('organization_id', '=', organizationId).where('user_id', '=', userId).where('ended_at', 'is', null).executeTakeFirst();
}

export function findSession(db: Executor, id: string, organizationId: string | null): Promise<SessionRow | undefined> {
  let q = db.selectFrom('sessions').selectAll().where('id', '=', id);
  if (organizationId) q = q.where('organization_id', '=', organizationId);
  return q.executeTakeFirst();
}

export async function insertSession(db: Executor, row: SessionRow, seats: readonly SessionSeatRow[]): Promise<void> {
  await db.insertInto('sessions').values({ ...row, channels: JSON.stringify(row.channels) }).execute();
  if (seats.length > 0) await db.insertInto('session_seats').values([...seats]).execute();
}

/** Ends an open session; undefined when it had ended already (someone else ended or expired it first). */
export function closeSession(db: Executor, organizationId: string, id: string, at: Date, reason: string): Promise<SessionRow | undefined> {
  return db
    .updateTable('sessions')
    .set({ ended_at: at, end_reason: reason })
    .where('organization_id', '=', organizationId)
    .where('id', '=', id)
    .where('ended_at', 'is', null)
    .returningAll()
    .executeTakeFirst();
}

export function renewSession(db: Executor, organizationId: string, id: string, now: Date, expiresAt: Date): Promise<SessionRow | undefined> {
  return db
    .updateTable('sessions')
    .set({ expires_at: expiresAt })
    .where('organization_id', '=', organizationId)
    .where('id', '=', id)
    .where('ended_at', 'is', null)
    .where('expires_at', '>', now)
    .returningAll()
    .executeTakeFirst();
}

export function seatsOfSession(db: Executor, organizationId: string, sessionId: string): Promise<SessionSeatRow[]> {
  return db.selectFrom('session_seats').selectAll().where('organization_id', '=', organizationId).where('session_id', '=', sessionId).execute();
}

/**
 * Open sessions past their expiry, locked for this transaction; rows another
 * instance is expiring are skipped (R-CONC-3).
 */
export function lockExpired(db: Executor, now: Date, limit: number, organizationId: string | null): Promise<{ organization_id: string; id: string }[]> {
  let q = db.selectFrom('sessions').select(['organization_id', 'id']).where('ended_at', 'is', null).where('expires_at', '<=', now);
  if (organizationId) q = q.where('organization_id', '=', organizationId);
  return q.orderBy('expires_at').limit(limit).forUpdate().modifyEnd(sql`skip locked`).execute();
}

export function sessionsOfUsers(db: Executor, userIds: readonly string[], since: Date): Promise<SessionRow[]> {
  return db
    .selectFrom('sessions')
    .selectAll()
    .where('user_id', 'in', userIds)
    .where((eb) => eb.or([eb('ended_at', 'is', null), eb('started_at', '>=', since)]))
    .orderBy('started_at', 'desc')
    .execute();
}

/** The series of a pool for [from, to), starting with the value in force at `from` (or the start of an episode running then). */
export async function usageSeries(db: Executor, organizationId: string, from: Date, to: Date) {
  const before = await sql<{ product_code: string; at: Date; in_use: number; capacity: number; emergency_capacity: number; seq: number }>`
    select distinct on (product_code) product_code, at, in_use, capacity, emergency_capacity, seq
    from usage_changes
    where organization_id = ${organizationId} and at < ${from}
    order by product_code, at desc, seq desc`.execute(db);
  // Where an overage episode is running at `from`, read back to its start.
  let start = from;
  for (const row of before.rows) {
    if (row.in_use > row.capacity + row.emergency_capacity) {
      const calm = await db
        .selectFrom('usage_changes')
        .select('at')
        .where('organization_id', '=', organizationId)
        .where('product_code', '=', row.product_code)
        .where('at', '<', from)
        .where(sql<boolean>`in_use <= capacity + emergency_capacity`)
        .orderBy('at', 'desc')
        .limit(1)
        .executeTakeFirst();
      const episodeStart = calm?.at ?? new Date(0);
      if (episodeStart < start) start = episodeStart;
    }
  }
  const rows = await db
    .selectFrom('usage_changes')
    .select(['product_code', 'at', 'in_use', 'capacity', 'emergency_capacity', 'seq'])
    .where('organization_id', '=', organizationId)
    .where('at', '>=', start < from ? start : from)
    .where('at', '<', to)
    .orderBy('at')
    .orderBy('seq')
    .execute();
  return { before: before.rows, rows };
}

/** Raw counter values of every pool in [from, to), oldest first, with the value in force at `from` (charts). */
export async function seatHistory(db: Executor, organizationId: string, from: Date, to: Date, limit: number) {
  const [before, rows] = await Promise.all([
    sql<{ product_code: string; at: Date; in_use: number }>`
      select distinct on (product_code) product_code, at, in_use from usage_changes
      where organization_id = ${organizationId} and at < ${from}
      order by product_code, at desc, seq desc`.execute(db),
    db
      .selectFrom('usage_changes')
      .select(['product_code', 'at', 'in_use'])
      .where('organization_id', '=', organizationId)
      .where('at', '>=', from)
      .where('at', '<', to)
      .orderBy('at')
      .orderBy('seq')
      .limit(limit)
      .execute(),
  ]);
  return [...before.rows.map((r) => ({ ...r, at: from })), ...rows];
}
