import { type CompiledQuery, type RawBuilder, sql } from 'kysely';
import { type Executor, GatewayDb } from '../db/database.ts';
import { PREPARED } from '../db/prepared.ts';
import type { EventRow, NewSessionSeat, OrganizationRow, SeatPoolRow, SessionRow, SessionSeatRow, UserRow } from '../db/schema.ts';
import { type Organization, organizationOf, type User, userOf } from '../tenancy/domain.ts';
import { announceEvents, EVENT_COLUMNS, insertEventFrom } from '../events/events.repository.ts';
import type { SeatKind } from '../licensing/metering.ts';
import { DEMO_POOL } from '../licensing/seats.ts';
import type { Page } from '../db/pages.ts';
import { type EndReason, type Session, sessionOf } from './session.ts';

/* All SQL for seat pools, sessions and the usage series. */

/**
 * The kind of the seat that brought a pool's counter to `inUse` (R-EMER-1,
 * R-OVER-1), as SQL over three integer expressions: the twin of
 * `kindOfSeat` (licensing/metering.ts), which a test pins it to.
 */
export function seatKindSql(inUse: RawBuilder<unknown>, capacity: RawBuilder<unknown>, emergencyCapacity: RawBuilder<unknown>) {
  return sql<string>`case when ${inUse} <= ${capacity} then 'REGULAR' when ${inUse} <= ${capacity} + ${emergencyCapacity} then 'EMERGENCY' else 'OVERAGE' end`;
}

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
export async function takeSeat(
  db: Executor,
  organizationId: string,
  product: string,
  today: string,
): Promise<(PoolCounter & { overage_allowed: boolean }) | null> {
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
    .returning(['in_use', 'capacity', 'emergency_capacity', 'overage_allowed'])
    .executeTakeFirst();
  return row ?? null;
}

export async function releaseSeat(
  db: Executor,
  organizationId: string,
  product: string,
  today: string,
  count = 1,
): Promise<PoolCounter | null> {
  const row = await db
    .updateTable('seat_pools')
    .set({
      in_use: sql`greatest(in_use - ${count}, 0)`,
      peak_today: sql`case when peak_day = ${today}::date then peak_today else greatest(in_use - ${count}, 0) end`,
      peak_day: sql`${today}::date`,
    })
    .where('organization_id', '=', organizationId)
    .where('product_code', '=', product)
    .returning(['in_use', 'capacity', 'emergency_capacity'])
    .executeTakeFirst();
  return row ?? null;
}

export async function recordUsage(
  db: Executor,
  organizationId: string,
  at: Date,
  changes: readonly { product: string; counter: PoolCounter }[],
): Promise<void> {
  if (changes.length === 0) return;
  await db
    .insertInto('usage_changes')
    .values(
      changes.map((c) => ({
        organization_id: organizationId,
        product_code: c.product,
        at,
        in_use: c.counter.in_use,
        capacity: c.counter.capacity,
        emergency_capacity: c.counter.emergency_capacity,
      })),
    )
    .execute();
}

export function poolsOfOrganizations(db: Executor, organizationIds: readonly string[]): Promise<SeatPoolRow[]> {
  return db.selectFrom('seat_pools').selectAll().where('organization_id', 'in', organizationIds).orderBy('product_code').execute();
}

export function grantsOfUser(db: Executor, organizationId: string, userId: string): Promise<{ product_code: string; status: string }[]> {
  return db
    .selectFrom('user_grants')
    .select(['product_code', 'status'])
    .where('organization_id', '=', organizationId)
    .where('user_id', '=', userId)
    .execute();
}

const maybeSession = (row: SessionRow | undefined) => (row === undefined ? undefined : sessionOf(row));

export async function openSessionOf(db: Executor, organizationId: string, userId: string): Promise<Session | undefined> {
  const row = await db
    .selectFrom('sessions')
    .selectAll()
    .where('organization_id', '=', organizationId)
    .where('user_id', '=', userId)
    .where('ended_at', 'is', null)
    .executeTakeFirst();
  return maybeSession(row);
}

export async function findSession(db: Executor, id: string, organizationId: string | null): Promise<Session | undefined> {
  let q = db.selectFrom('sessions').selectAll().where('id', '=', id);
  if (organizationId) q = q.where('organization_id', '=', organizationId);
  return maybeSession(await q.executeTakeFirst());
}

/** Sessions by id (Query.node, src/tenancy/node.service.ts); `organizationId` null: of any organization (the operator). */
export async function sessionsByIds(db: Executor, ids: readonly string[], organizationId: string | null): Promise<Session[]> {
  if (ids.length === 0) return [];
  let q = db.selectFrom('sessions').selectAll().where('id', 'in', ids);
  if (organizationId) q = q.where('organization_id', '=', organizationId);
  return (await q.execute()).map(sessionOf);
}

/**
 * A session expiry as SQL (R-LIFE-6): with `capMs` (a clock of record: TTL plus the skew bound) capped at the
 * database's now() + capMs, so no instance can hold a seat into the future; without (tests' ManualClock) as given.
 */
function expiry(expiresAt: Date, capMs: number | undefined) {
  return capMs === undefined
    ? sql<Date>`${expiresAt}::timestamptz`
    : sql<Date>`least(${expiresAt}::timestamptz, now() + ${capMs}::double precision * interval '1 millisecond')`;
}

export async function insertSession(db: Executor, row: SessionRow, seats: readonly NewSessionSeat[], expiresCapMs?: number): Promise<void> {
  await db
    .insertInto('sessions')
    .values({ ...row, expires_at: expiry(row.expires_at, expiresCapMs), channels: JSON.stringify(row.channels) })
    .execute();
  if (seats.length > 0)
    await db
      .insertInto('session_seats')
      .values([...seats])
      .execute();
}

/**
 * Ends an open session; undefined when it had ended already (someone else
 * ended or expired it first). With `expiredBy`, only if it is still overdue
 * at that instant (a heartbeat may have renewed it since it was picked).
 */
export async function closeSession(
  db: Executor,
  organizationId: string,
  id: string,
  at: Date,
  reason: EndReason,
  expiredBy?: Date,
): Promise<Session | undefined> {
  let q = db
    .updateTable('sessions')
    .set({ ended_at: at, end_reason: reason })
    .where('organization_id', '=', organizationId)
    .where('id', '=', id)
    .where('ended_at', 'is', null);
  if (expiredBy) q = q.where('expires_at', '<=', expiredBy);
  return maybeSession(await q.returningAll().executeTakeFirst());
}

/**
 * Locks one pool row (lock order step 3) and reads its counter: a start
 * whose pool has reservations or caps (R-RES) decides under this lock
 * before it takes the seat, so the seats it counts by unit are exact.
 */
export async function lockPoolCounter(
  db: Executor,
  organizationId: string,
  product: string,
): Promise<(PoolCounter & { overage_allowed: boolean }) | undefined> {
  return db
    .selectFrom('seat_pools')
    .select(['in_use', 'capacity', 'emergency_capacity', 'overage_allowed'])
    .where('organization_id', '=', organizationId)
    .where('product_code', '=', product)
    .forNoKeyUpdate()
    .executeTakeFirst();
}

/**
 * Locks the pool rows of `products` in the one pool order (product code,
 * byte order: "C" collation, the order `byCode` sorts in), the step every
 * transaction that ends sessions takes before it touches a session row.
 */
export async function lockPools(db: Executor, organizationId: string, products: readonly string[]): Promise<void> {
  if (products.length === 0) return;
  await sql`select product_code from seat_pools
    where organization_id = ${organizationId} and product_code = any(${[...products]}::text[])
    order by product_code collate "C" for no key update`.execute(db);
}

/**
 * The status of the user a start is for, share-locked until the start commits: a
 * status change or deletion of the user (which updates the row) waits for the
 * start and then sees, and ends, the session it opened. Undefined: no such
 * user.
 */
export async function lockUserForStart(
  db: Executor,
  organizationId: string,
  userId: string,
): Promise<{ status: string; site_id: string; configuration_group_id: string | null } | undefined> {
  return db
    .selectFrom('users')
    .select(['status', 'site_id', 'configuration_group_id'])
    .where('organization_id', '=', organizationId)
    .where('id', '=', userId)
    .forShare()
    .executeTakeFirst();
}

/** Open sessions of some users of one organization (a status change or deletion ends them). */
export async function openSessionsOfUsers(db: Executor, organizationId: string, userIds: readonly string[]): Promise<Session[]> {
  if (userIds.length === 0) return [];
  const rows = await db
    .selectFrom('sessions')
    .selectAll()
    .where('organization_id', '=', organizationId)
    .where('user_id', 'in', userIds)
    .where('ended_at', 'is', null)
    .execute();
  return rows.map(sessionOf);
}

export async function renewSession(
  db: Executor,
  organizationId: string,
  id: string,
  now: Date,
  expiresAt: Date,
  expiresCapMs?: number,
): Promise<Session | undefined> {
  return maybeSession(
    await db
      .updateTable('sessions')
      .set({ expires_at: expiry(expiresAt, expiresCapMs) })
      .where('organization_id', '=', organizationId)
      .where('id', '=', id)
      .where('ended_at', 'is', null)
      .where('expires_at', '>', now)
      // Only an ACTIVE user's session is renewed (a deleted or deactivated user's ends instead).
      .where(({ exists, selectFrom }) =>
        exists(
          selectFrom('users')
            .select('users.id')
            .whereRef('users.organization_id', '=', 'sessions.organization_id')
            .whereRef('users.id', '=', 'sessions.user_id')
            .where('users.status', '=', 'ACTIVE'),
        ),
      )
      .returningAll()
      .executeTakeFirst(),
  );
}

export function seatsOfSessions(db: Executor, organizationId: string, sessionIds: readonly string[]): Promise<SessionSeatRow[]> {
  if (sessionIds.length === 0) return Promise.resolve([]);
  return db
    .selectFrom('session_seats')
    .selectAll()
    .where('organization_id', '=', organizationId)
    .where('session_id', 'in', sessionIds)
    .execute();
}

/**
 * Open sessions of one organization past their expiry, oldest first, read
 * without a lock: the expiry locks their pools first and then ends only
 * those still open and overdue (R-CONC-3), so several instances sweeping at
 * once never free a seat twice.
 */
export async function overdueSessions(db: Executor, organizationId: string, now: Date, limit: number): Promise<Session[]> {
  const rows = await db
    .selectFrom('sessions')
    .selectAll()
    .where('organization_id', '=', organizationId)
    .where('ended_at', 'is', null)
    .where('expires_at', '<=', now)
    .orderBy('expires_at')
    .limit(limit)
    .execute();
  return rows.map(sessionOf);
}

/** Organizations that have open sessions past their expiry (the sweep handles each on its own). */
export async function organizationsWithOverdue(db: Executor, now: Date): Promise<string[]> {
  const rows = await db
    .selectFrom('sessions')
    .select('organization_id')
    .distinct()
    .where('ended_at', 'is', null)
    .where('expires_at', '<=', now)
    .execute();
  return rows.map((r) => r.organization_id);
}

/**
 * Open sessions of the organization that hold no demo seat: those carried
 * over from full use into demo mode (R-DEMO-2), counted against the demo
 * agent limit.
 */
export async function openNonDemoSessions(db: Executor, organizationId: string): Promise<number> {
  const row = await db
    .selectFrom('sessions')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('organization_id', '=', organizationId)
    .where('ended_at', 'is', null)
    .where('seat_kind', '<>', 'DEMO')
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

export async function hasOverdue(db: Executor, organizationId: string, now: Date): Promise<boolean> {
  const row = await db
    .selectFrom('sessions')
    .select('id')
    .where('organization_id', '=', organizationId)
    .where('ended_at', 'is', null)
    .where('expires_at', '<=', now)
    .limit(1)
    .executeTakeFirst();
  return row !== undefined;
}

export async function sessionsOfUsers(db: Executor, userIds: readonly string[], since: Date): Promise<Session[]> {
  const rows = await db
    .selectFrom('sessions')
    .selectAll()
    .where('user_id', 'in', userIds)
    .where((eb) => eb.or([eb('ended_at', 'is', null), eb('started_at', '>=', since)]))
    .orderBy('started_at', 'desc')
    .execute();
  return rows.map(sessionOf);
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
  // Where an overage episode is still running at `to`, read on to the change that ended it (if any):
  // the episode is reported whole, and judged by its real length rather than as if it still ran.
  const last = new Map<string, { in_use: number; capacity: number; emergency_capacity: number }>();
  for (const row of before.rows) last.set(row.product_code, row);
  for (const row of rows) last.set(row.product_code, row);
  for (const [product, row] of last) {
    if (row.in_use <= row.capacity + row.emergency_capacity) continue;
    const end = await db
      .selectFrom('usage_changes')
      .select(['product_code', 'at', 'in_use', 'capacity', 'emergency_capacity', 'seq'])
      .where('organization_id', '=', organizationId)
      .where('product_code', '=', product)
      .where('at', '>=', to)
      .where(sql<boolean>`in_use <= capacity + emergency_capacity`)
      .orderBy('at')
      .orderBy('seq')
      .limit(1)
      .executeTakeFirst();
    if (end) rows.push(end);
  }
  return { before: before.rows, rows };
}

/**
 * Raw counter values of every pool in [from, to), oldest first, starting with
 * the value in force at `from` for every pool (charts, R-METER-2): the last
 * change before `from`, or 0 when the pool had none yet (a counter starts at
 * 0), unless a change falls on `from` itself. Three statements.
 */
export async function seatHistory(db: Executor, organizationId: string, from: Date, to: Date, limit: number) {
  const [before, rows, pools] = await Promise.all([
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
    db.selectFrom('seat_pools').select('product_code').where('organization_id', '=', organizationId).execute(),
  ]);
  const inForce = new Map<string, number>(before.rows.map((r) => [r.product_code, r.in_use]));
  for (const r of [...pools, ...rows]) if (!inForce.has(r.product_code)) inForce.set(r.product_code, 0);
  const changedAtFrom = new Set(rows.filter((r) => r.at.getTime() === from.getTime()).map((r) => r.product_code));
  const first = [...inForce]
    .filter(([product]) => !changedAtFrom.has(product))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([product_code, in_use]) => ({ product_code, at: from, in_use }));
  return [...first, ...rows];
}

/** Everything a session start reads before it decides, from one statement (see `probeStart`). */
export interface StartProbe {
  user: User;
  organization: Organization;
  grants: { product_code: string; status: string }[];
  /** Products with reservations or caps in the organization (R-RES): a start of one takes the transactional path. */
  bounded: string[];
  open: Session | null;
}

/**
 * The user (of the viewer's organization, when the viewer has one), their
 * organization (with its revision, which says whether its licence keys
 * changed), the user's materialized grants and their open session: the reads
 * of a start in ONE round trip instead of six. All from one snapshot.
 */
export async function probeStart(db: Executor, userId: string, organizationId: string | null): Promise<StartProbe | undefined> {
  const result = await sql<ProbeRow>`
    select
      u.organization_id, u.id, u.site_id, u.configuration_group_id, u.team_id, u.name, u.email, u.role, u.status, u.created_at,
      o.name as o_name, o.catalog_code as o_catalog_code, o.customer_ref as o_customer_ref, o.clock_high_water as o_clock_high_water,
      o.created_at as o_created_at, o.license_state as o_license_state, o.license_key_id as o_license_key_id,
      o.license_check_at as o_license_check_at, o.revision as o_revision,
      coalesce((select json_agg(json_build_array(g.product_code, g.status)) from user_grants g
        where g.organization_id = u.organization_id and g.user_id = u.id), '[]'::json) as grants,
      coalesce((select json_agg(distinct b.product_code) from seat_bounds b
        where b.organization_id = u.organization_id), '[]'::json) as bounded,
      s.id as s_id, s.seat_kind as s_seat_kind, s.started_at as s_started_at, s.expires_at as s_expires_at,
      s.ended_at as s_ended_at, s.end_reason as s_end_reason, s.channels as s_channels, s.device_id as s_device_id, s.api_token_id as s_api_token_id
    from users u
    join organizations o on o.id = u.organization_id
    left join lateral (select * from sessions where organization_id = u.organization_id and user_id = u.id and ended_at is null limit 1) s on true
    where u.id = ${userId} ${organizationId === null ? sql`` : sql`and u.organization_id = ${organizationId}`}`.execute(db);
  const r = result.rows[0];
  if (!r) return undefined;
  return {
    user: userOf({
      organization_id: r.organization_id,
      id: r.id,
      site_id: r.site_id,
      configuration_group_id: r.configuration_group_id,
      team_id: r.team_id,
      name: r.name,
      email: r.email,
      role: r.role,
      status: r.status,
      created_at: r.created_at,
    }),
    organization: organizationOf({
      id: r.organization_id,
      name: r.o_name,
      catalog_code: r.o_catalog_code,
      customer_ref: r.o_customer_ref,
      clock_high_water: r.o_clock_high_water,
      created_at: r.o_created_at,
      license_state: r.o_license_state,
      license_key_id: r.o_license_key_id,
      license_check_at: r.o_license_check_at,
      revision: Number(r.o_revision),
    }),
    grants: r.grants.map(([product_code, status]) => ({ product_code, status })),
    bounded: r.bounded,
    open:
      r.s_id === null
        ? null
        : sessionOf({
            organization_id: r.organization_id,
            id: r.s_id,
            user_id: r.id,
            seat_kind: r.s_seat_kind,
            started_at: r.s_started_at,
            expires_at: r.s_expires_at,
            ended_at: r.s_ended_at,
            end_reason: r.s_end_reason,
            channels: r.s_channels,
            device_id: r.s_device_id,
            api_token_id: r.s_api_token_id,
          }),
  };
}

type Prefixed<T, P extends string> = { [K in keyof T & string as `${P}${K}`]: T[K] };
type ProbeRow = UserRow &
  Prefixed<Omit<OrganizationRow, 'id'>, 'o_'> & { grants: [string, string][]; bounded: string[] } & Prefixed<
    { [K in keyof Omit<SessionRow, 'organization_id' | 'user_id'>]: SessionRow[K] | null },
    's_'
  > & { s_id: string | null; s_seat_kind: string; s_started_at: Date; s_expires_at: Date; s_channels: string[] };

export interface SingleSeatStart {
  organizationId: string;
  /**
   * Which pool: a product the caller decided on from a probe, or `direct`:
   * the statement itself checks what the probe would have read — the user is
   * ACTIVE, has no open session, holds exactly one GRANTED grant among
   * `seatProducts` (that is the pool), and the organization's revision and
   * high-water time are still those the caller's licensing was computed from.
   */
  pool: { product: string } | { direct: { userId: string; revision: number; highWater: Date | null; seatProducts: readonly string[] } };
  today: string;
  /** `expiresCapMs`: see `expiry` (R-LIFE-6). */
  session: {
    id: string;
    userId: string;
    startedAt: Date;
    expiresAt: Date;
    expiresCapMs?: number;
    deviceId: string | null;
    apiTokenId: string | null;
    channels: string[];
  };
  /**
   * The SESSION_STARTED event (`eventRow`); the statement fills in its product
   * and its detail, the seat taken (`<product> <kind>`) followed by `detailSuffix`.
   */
  event: { row: EventRow; detailSuffix: string };
}

export interface SingleSeatResult {
  /** The pool the start was for; null: a `direct` start found the user not eligible as checked (take the probe path). */
  product: string | null;
  /** The counter after taking the seat; null: the pool was full. */
  taken: (PoolCounter & { seat_kind: SeatKind }) | null;
  /** When the pool was full: whether the organization has open sessions past their expiry (whose seats a lazy expiry would free). */
  overdue: boolean;
}

/**
 * The whole start of a session that needs one pool, as ONE statement (it
 * runs in its own implicit transaction): take the seat, insert the session,
 * its seat, the usage point and the SESSION_STARTED event, and NOTIFY. The
 * pool row stays locked only for this statement and its commit, as in a bare
 * conditional UPDATE (R-CONC-4). A second open session of the user violates
 * the unique index and nothing happens.
 */
/**
 * R-RES: the one statement takes no seat of a pool with reservations or caps
 * (the transactional path decides those under the pool's lock). A bound set
 * after the statement's snapshot does not stop it: the start then orders
 * before the bound change, as if it had committed first.
 */
const unbounded = (product: RawBuilder<unknown>) =>
  sql`not exists (select 1 from seat_bounds b where b.organization_id = u.organization_id and b.product_code = ${product})`;

/** The values of the one-statement start, flat: its SQL is printed once per shape (db/compiled.ts). */
interface StartValues extends Record<string, unknown> {
  organizationId: string;
  userId: string;
  /** The pool's product (shape `product`); the next three for shape `direct`. */
  product: string | undefined;
  revision: number | undefined;
  highWater: Date | null | undefined;
  seatProducts: string[] | undefined;
  today: string;
  sessionId: string;
  startedAt: Date;
  expiresAt: Date;
  /** Shape `capped` only. */
  expiresCapMs: number | undefined;
  channels: string;
  deviceId: string | null;
  apiTokenId: string | null;
  detailSuffix: string;
  /** The SESSION_STARTED event's columns but those the statement computes (STATEMENT_COLUMNS). */
  event_organization_id: string;
  event_id: string;
  event_at: Date;
  event_type: string;
  event_user_id: string | null;
  event_api_token_id: string | null;
  event_actor: string;
  event_denial_code: string | null;
}

type StartRow = {
  product_code: string | null;
  in_use: number | null;
  capacity: number;
  emergency_capacity: number;
  seat_kind: string;
  overdue: boolean | null;
};

/** The one statement, written from `v` only (see db/compiled.ts for the rule); `direct`, `capped`: its shape. */
function startStatement(v: StartValues, direct: boolean, capped: boolean): RawBuilder<StartRow> {
  // The user's row is share-locked first (lock order: user, then pool; see lock-order.ts): a status
  // change or deletion of the user waits for this start and then ends the session it opened. Not ACTIVE
  // (or gone): no pool, nothing happens, and the caller takes the transactional path for the exact answer.
  const user = sql`select u.organization_id, u.id, u.site_id, u.configuration_group_id from users u
    where u.organization_id = ${v.organizationId} and u.id = ${v.userId} and u.status = 'ACTIVE' for share`;
  // The open-session check names the user by the statement's own values, not through active_user: correlated,
  // a plan made while few sessions were open (a gateway started at night) walks the whole partial index of open
  // sessions, of every organization, on each start, and the server keeps that plan for the prepared statement.
  const pool = direct
    ? sql`select min(g.product_code) as product_code
          from active_user u
          join organizations o on o.id = u.organization_id and o.revision = ${v.revision}
            and o.clock_high_water is not distinct from ${v.highWater}::timestamptz
          join user_grants g on g.organization_id = u.organization_id and g.user_id = u.id and g.status = 'GRANTED'
            and g.product_code = any(${v.seatProducts}::text[])
          where ${unbounded(sql.ref('g.product_code'))} and not exists (select 1 from sessions o_s where o_s.organization_id = ${v.organizationId} and o_s.user_id = ${v.userId} and o_s.ended_at is null)
          having count(*) = 1`
    : sql`select ${v.product}::text as product_code from active_user u where ${unbounded(sql`${v.product}::text`)}`;
  return sql<StartRow>`${sql.raw(PREPARED)}with active_user as (${user}),
    pool as (${pool}),
    seat as (
      update seat_pools set
        in_use = in_use + 1,
        peak_today = case when peak_day = ${v.today}::date then greatest(peak_today, in_use + 1) else in_use + 1 end,
        peak_day = ${v.today}::date
      where organization_id = ${v.organizationId} and product_code = (select product_code from pool)
        and (in_use < capacity + emergency_capacity or overage_allowed)
      returning product_code, in_use, capacity, emergency_capacity,
        ${seatKindSql(sql.ref('in_use'), sql.ref('capacity'), sql.ref('emergency_capacity'))} as seat_kind
    ),
    new_session as (
      insert into sessions (organization_id, id, user_id, seat_kind, started_at, expires_at, ended_at, end_reason, channels, device_id, api_token_id)
      select ${v.organizationId}, ${v.sessionId}, ${v.userId}, seat.seat_kind, ${v.startedAt}, ${expiry(v.expiresAt, capped ? v.expiresCapMs : undefined)}, null, null, ${v.channels}::jsonb, ${v.deviceId}, ${v.apiTokenId}
      from seat
    ),
    new_seat as (
      insert into session_seats (organization_id, session_id, product_code, seat_kind, channel, site_id, configuration_group_id)
      select ${v.organizationId}, ${v.sessionId}, seat.product_code, seat.seat_kind, null, u.site_id, u.configuration_group_id from seat, active_user u
    ),
    new_usage as (
      insert into usage_changes (organization_id, product_code, at, in_use, capacity, emergency_capacity)
      select ${v.organizationId}, seat.product_code, ${v.startedAt}, seat.in_use, seat.capacity, seat.emergency_capacity from seat
    ),
    new_event as (${insertEventFrom(eventOfValues(v), 'seat', {
      product_code: sql`seat.product_code`,
      detail: sql`seat.product_code || ' ' || seat.seat_kind || ${v.detailSuffix}`,
    })})
    select pool.product_code, seat.in_use, seat.capacity, seat.emergency_capacity, seat.seat_kind,
      case when seat.in_use is null and pool.product_code is not null then exists (
        select 1 from sessions where ended_at is null and expires_at <= ${v.startedAt} and organization_id = ${v.organizationId}
      ) end as overdue
    from (select 1) as one left join pool on true left join seat on true`;
}

/** The event's columns the statement computes (the pool taken and its seat kind) rather than takes as values. */
const STATEMENT_COLUMNS = new Set(['product_code', 'detail']);
const eventOfValues = (v: StartValues) =>
  Object.fromEntries(
    EVENT_COLUMNS.filter((c) => !STATEMENT_COLUMNS.has(c)).map((c) => [c, v[`event_${c}` as const]]),
  ) as unknown as EventRow;

/** The one statement for `p`, compiled (printed once per shape on the pool's own database, see db/compiled.ts). */
export function startQuery(db: Executor, p: SingleSeatStart): CompiledQuery<StartRow> {
  const { session: s, event: e } = p;
  const direct = 'direct' in p.pool ? p.pool.direct : null;
  const product = 'product' in p.pool ? p.pool.product : undefined;
  const row = e.row;
  // One literal of fixed shape (fast to build and to read); what a shape does not use stays undefined.
  const values: StartValues = {
    organizationId: p.organizationId,
    userId: s.userId,
    product,
    revision: direct?.revision,
    highWater: direct ? direct.highWater : undefined,
    seatProducts: direct ? [...direct.seatProducts] : undefined,
    today: p.today,
    sessionId: s.id,
    startedAt: s.startedAt,
    expiresAt: s.expiresAt,
    expiresCapMs: s.expiresCapMs,
    channels: JSON.stringify(s.channels),
    deviceId: s.deviceId,
    apiTokenId: s.apiTokenId,
    detailSuffix: e.detailSuffix,
    event_organization_id: row.organization_id,
    event_id: row.id,
    event_at: row.at,
    event_type: row.type,
    event_user_id: row.user_id,
    event_api_token_id: row.api_token_id,
    event_actor: row.actor,
    event_denial_code: row.denial_code,
  };
  const capped = s.expiresCapMs !== undefined;
  const build = (v: StartValues) => startStatement(v, direct !== null, capped);
  if (db instanceof GatewayDb)
    return db.compiled.query(
      'startWithOneSeat',
      direct ? (capped ? 'direct capped' : 'direct') : capped ? 'product capped' : 'product',
      values,
      build,
      (b) => b.compile(db),
    );
  return build(values).compile(db);
}

export async function startWithOneSeat(db: Executor, p: SingleSeatStart): Promise<SingleSeatResult> {
  const result = await db.executeQuery(startQuery(db, p));
  const row = result.rows[0];
  // Announced once committed (an autocommit statement: at once), not by a NOTIFY in it: see db/announcer.ts.
  if (row?.in_use != null) announceEvents(db, p.organizationId, [p.event.row.id]);
  if (!row?.product_code) return { product: null, taken: null, overdue: false };
  return {
    product: row.product_code,
    taken:
      row.in_use === null
        ? null
        : { in_use: row.in_use, capacity: row.capacity, emergency_capacity: row.emergency_capacity, seat_kind: seatKindOf(row.seat_kind) },
    overdue: row.overdue === true,
  };
}

function seatKindOf(kind: string): SeatKind {
  if (kind === 'REGULAR' || kind === 'EMERGENCY' || kind === 'OVERAGE') return kind;
  throw new Error(`seat kind ${kind} is not a SeatKind`);
}

/** Every pool's counter (the seats_in_use metric); the demo pool only while it has sessions. */
export function allPoolCounters(db: Executor): Promise<{ organization_id: string; product_code: string; in_use: number }[]> {
  return db
    .selectFrom('seat_pools')
    .select(['organization_id', 'product_code', 'in_use'])
    .where((eb) => eb.or([eb.and([eb('capacity', '>', 0), eb('product_code', '!=', DEMO_POOL)]), eb('in_use', '>', 0)]))
    .execute();
}

/* The supervisor's screens: who holds the seats now (a page of open sessions), and a channel change. */

/** Which open sessions a page lists: all of one organization's, or those holding a unit of one pool. */
export interface OpenSessionScope {
  organizationId: string;
  /** A product code: only sessions holding a seat or channel unit of that pool. */
  product?: string | null;
}

function openSessionsQuery(db: Executor, scope: OpenSessionScope) {
  let q = db.selectFrom('sessions').where('sessions.organization_id', '=', scope.organizationId).where('sessions.ended_at', 'is', null);
  const product = scope.product;
  if (product != null)
    q = q.where(({ exists, selectFrom }) =>
      exists(
        selectFrom('session_seats')
          .select('session_seats.session_id')
          .whereRef('session_seats.organization_id', '=', 'sessions.organization_id')
          .whereRef('session_seats.session_id', '=', 'sessions.id')
          .where('session_seats.product_code', '=', product),
      ),
    );
  return q;
}

/** A keyset page of open sessions, oldest first (ids sort by start), fetched with limit + 1 rows. */
export async function pageOfOpenSessions(db: Executor, scope: OpenSessionScope, page: Page): Promise<Session[]> {
  let q = openSessionsQuery(db, scope).selectAll('sessions');
  if (page.afterId) q = q.where('sessions.id', '>', page.afterId);
  const rows = await q
    .orderBy('sessions.id')
    .limit(page.limit + 1)
    .execute();
  return rows.map(sessionOf);
}

export async function countOpenSessions(db: Executor, scope: OpenSessionScope): Promise<number> {
  const row = await openSessionsQuery(db, scope)
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/**
 * Sets an open session's channels (and its seat kind, the most exceptional
 * of its seats' kinds after the change), only if they are still `before` (an
 * optimistic check: two changes of one session never both apply to the same
 * state). Undefined: the session ended, or its channels changed meanwhile.
 */
export async function updateSessionChannels(
  db: Executor,
  organizationId: string,
  id: string,
  before: readonly string[],
  after: readonly string[],
  seatKind: string,
): Promise<Session | undefined> {
  return maybeSession(
    await db
      .updateTable('sessions')
      .set({ channels: JSON.stringify(after), seat_kind: seatKind })
      .where('organization_id', '=', organizationId)
      .where('id', '=', id)
      .where('ended_at', 'is', null)
      .where(sql<boolean>`channels = ${JSON.stringify(before)}::jsonb`)
      .returningAll()
      .executeTakeFirst(),
  );
}

/** Removes the channel units of a session from its seats (`session_seats`), by product code. */
export async function deleteSessionSeats(
  db: Executor,
  organizationId: string,
  sessionId: string,
  products: readonly string[],
): Promise<void> {
  if (products.length === 0) return;
  await db
    .deleteFrom('session_seats')
    .where('organization_id', '=', organizationId)
    .where('session_id', '=', sessionId)
    .where('product_code', 'in', products)
    .execute();
}

export async function insertSessionSeats(db: Executor, seats: readonly NewSessionSeat[]): Promise<void> {
  if (seats.length === 0) return;
  await db
    .insertInto('session_seats')
    .values([...seats])
    .execute();
}
