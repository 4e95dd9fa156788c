/**
 * The end of sessions: a client ends its session (`endSession`), renews it
 * (`heartbeat`), a status change or deletion ends its users' sessions
 * (`endSessionsOfUsers`), and overdue sessions expire (`expireDue`, run by a
 * start that finds them in its way and by the sweep, sweep.ts). Every path
 * frees seats through `endSessionRows`, in the lock order (lock-order.ts).
 */
import { actorOf, authorize, requireAuthenticated, viewerOrganization } from '../auth/viewer.ts';
import type { Context } from '../context.ts';
import type { Executor } from '../db/database.ts';
import { withTransaction } from '../db/transaction.ts';
import { notFound } from '../errors.ts';
import type { EventInput } from '../events/events.repository.ts';
import { appendEvents } from '../events/events.repository.ts';
import { isId } from '../ids.ts';
import { dayOf } from '../licensing/billing.ts';
import { findUser } from '../tenancy/tenancy.repository.ts';
import { byCode } from './lock-order.ts';
import type { EndReason, Session } from './session.ts';
import * as repo from './sessions.repository.ts';

/** Who ends sessions nobody asked to end (expiry, a deleted user's): the system. */
export const SYSTEM = { actor: 'system', apiTokenId: null } as const;

/** R-LIFE-6: on the clock of record, SQL caps a session's expiry at the database's now() + TTL + the skew bound. */
export const expiresCapMs = (ctx: Context) =>
  ctx.clock.databaseBoundMs === undefined ? undefined : ctx.sessionTtlSeconds * 1000 + ctx.clock.databaseBoundMs;

const END_DETAIL: Record<EndReason, string> = {
  ENDED: '',
  EXPIRED: '',
  USER_DELETED: 'the user was deleted',
  USER_INACTIVE: 'the user became INACTIVE',
  USER_PREPARING: 'the user went back to PREPARING',
};

/** The end reason for a user who may no longer hold a session (deleted: undefined status). */
export function userEndReason(status: string | undefined): EndReason | null {
  if (status === undefined) return 'USER_DELETED';
  if (status === 'INACTIVE') return 'USER_INACTIVE';
  if (status === 'PREPARING') return 'USER_PREPARING';
  return null;
}

/**
 * Ends open sessions of ONE organization and frees their seats, in the lock
 * order: the pools of their seats first (`lockPools`, by product code), then
 * each session, only if it is still open (and, for an expiry, still
 * overdue), then each pool decremented once by the seats actually freed. A
 * session someone else ended first is skipped, so no seat is freed twice.
 * Appends SESSION_EXPIRED / SESSION_ENDED (with the reason) in the same
 * transaction; their NOTIFY refreshes live utilization on commit.
 */
export async function endSessionRows(
  trx: Executor,
  sessions: readonly Session[],
  at: Date,
  reason: EndReason,
  actor: Pick<EventInput, 'actor' | 'apiTokenId'>,
): Promise<Session[]> {
  const organizationId = sessions[0]?.organization_id;
  if (organizationId === undefined) return [];
  if (sessions.some((s) => s.organization_id !== organizationId)) throw new Error('endSessionRows: sessions of one organization at a time');
  const seats = await repo.seatsOfSessions(
    trx,
    organizationId,
    sessions.map((s) => s.id),
  );
  await repo.lockPools(trx, organizationId, [...new Set(seats.map((s) => s.product_code))]);
  const closed: Session[] = [];
  for (const session of sessions) {
    const row = await repo.closeSession(trx, organizationId, session.id, at, reason, reason === 'EXPIRED' ? at : undefined);
    if (row) closed.push(row);
  }
  const closedIds = new Set(closed.map((s) => s.id));
  // A channel change (channels.service.ts) that committed while these sessions were being closed (it held a
  // session's row until then) changed its seats: the seats read above are stale, so run the whole transaction
  // again (40001, as withTransaction retries) rather than free the wrong units.
  if (closed.length > 0) {
    const now = await repo.seatsOfSessions(trx, organizationId, [...closedIds]);
    const key = (s: { session_id: string; product_code: string }) => `${s.session_id} ${s.product_code}`;
    const before = new Set(seats.filter((s) => closedIds.has(s.session_id)).map(key));
    if (now.length !== before.size || now.some((s) => !before.has(key(s))))
      throw Object.assign(new Error('the seats of a session changed while it was being ended'), { code: '40001' });
  }
  const freed = new Map<string, number>();
  for (const seat of seats) if (closedIds.has(seat.session_id)) freed.set(seat.product_code, (freed.get(seat.product_code) ?? 0) + 1);
  const changes: { product: string; counter: repo.PoolCounter }[] = [];
  for (const [product, count] of [...freed].sort(([x], [y]) => byCode(x, y))) {
    const counter = await repo.releaseSeat(trx, organizationId, product, dayOf(at), count);
    if (counter) changes.push({ product, counter });
  }
  await repo.recordUsage(trx, organizationId, at, changes);
  await appendEvents(
    trx,
    closed.map((session) => ({
      organizationId,
      type: reason === 'EXPIRED' ? 'SESSION_EXPIRED' : 'SESSION_ENDED',
      at,
      userId: session.user_id,
      detail:
        reason === 'EXPIRED'
          ? `session ${session.id} not renewed since ${session.expires_at.toISOString()}`
          : reason === 'ENDED'
            ? `session ${session.id}`
            : `session ${session.id} ended: ${END_DETAIL[reason]} (${reason})`,
      ...actor,
    })),
  );
  return closed;
}

/**
 * Ends the open sessions of users who may no longer hold one, in the
 * caller's transaction (the status change or deletion itself, which holds
 * the organization's and the users' row locks): their seats and channel
 * units are free when it commits, with SESSION_ENDED carrying `reason`.
 */
export async function endSessionsOfUsers(
  ctx: Context,
  trx: Executor,
  organizationId: string,
  userIds: readonly string[],
  reason: EndReason,
): Promise<Session[]> {
  const open = await repo.openSessionsOfUsers(trx, organizationId, userIds);
  return endSessionRows(trx, open, ctx.clock.now(), reason, actorOf(ctx.viewer));
}

/**
 * Expires overdue open sessions of one organization (R-CONC-3): safe on
 * every instance at once (the pool locks serialize them and a session is
 * ended only while still open and overdue), and also used when a start finds
 * its pool full. Returns how many expired.
 */
export async function expireDue(
  trx: Executor,
  now: Date,
  limit: number,
  organizationId: string,
  actor: Pick<EventInput, 'actor' | 'apiTokenId'>,
): Promise<number> {
  const due = await repo.overdueSessions(trx, organizationId, now, limit);
  return (await endSessionRows(trx, due, now, 'EXPIRED', actor)).length;
}

async function loadSession(ctx: Context, trx: Executor, sessionId: string): Promise<Session> {
  requireAuthenticated(ctx.viewer);
  const session = isId(sessionId) ? await repo.findSession(trx, sessionId, viewerOrganization(ctx.viewer)) : undefined;
  if (!session) throw notFound('session', sessionId);
  authorize(ctx.viewer, session.organization_id, 'sessions', 'session', sessionId);
  return session;
}

/** A session whose user was deleted has no user to show: asking for it is NOT_FOUND, saying why. */
const userDeleted = (sessionId: string) =>
  notFound('session', sessionId, { reason: 'USER_DELETED', why: 'its user was deleted and the session ended' });

/**
 * R-CONC-3: renews an open session for another SESSION_TTL_SECONDS. A session
 * already past its expiry is expired now (its seats freed) and returned
 * ended: the client must start a new one. So is the session of a user who is
 * no longer ACTIVE (endReason USER_INACTIVE / USER_PREPARING); the session
 * of a deleted user is NOT_FOUND (reason USER_DELETED).
 */
export async function heartbeat(ctx: Context, input: { sessionId: string }): Promise<Session> {
  const session = await withTransaction(
    ctx.db,
    async (trx) => {
      const session = await loadSession(ctx, trx, input.sessionId);
      const now = ctx.clock.now();
      if (session.ended_at) return session;
      const renewed = await repo.renewSession(
        trx,
        session.organization_id,
        session.id,
        now,
        new Date(now.getTime() + ctx.sessionTtlSeconds * 1000),
        expiresCapMs(ctx),
      );
      if (renewed) return renewed;
      // Not renewed: overdue, or its user is gone or no longer ACTIVE (a session left over from before such a change ended them).
      const user = await findUser(trx, session.user_id, session.organization_id);
      const reason = userEndReason(user?.status) ?? 'EXPIRED';
      const [ended] = await endSessionRows(trx, [session], now, reason, SYSTEM);
      return ended ?? (await repo.findSession(trx, session.id, session.organization_id)) ?? session;
    },
    { label: 'heartbeat' },
  );
  if (session.end_reason === 'USER_DELETED') throw userDeleted(session.id);
  return session;
}

/** Ends a session and frees its seats; ending an ended session returns it unchanged (NOT_FOUND when its user was deleted). */
export async function endSession(ctx: Context, input: { sessionId: string }): Promise<{ session: Session; changed: boolean }> {
  const result = await withTransaction(
    ctx.db,
    async (trx) => {
      const session = await loadSession(ctx, trx, input.sessionId);
      if (session.ended_at) return { session, changed: false };
      const user = await findUser(trx, session.user_id, session.organization_id);
      const reason: EndReason = user ? 'ENDED' : 'USER_DELETED';
      const [ended] = await endSessionRows(trx, [session], ctx.clock.now(), reason, reason === 'ENDED' ? actorOf(ctx.viewer) : SYSTEM);
      return ended
        ? { session: ended, changed: true }
        : { session: (await repo.findSession(trx, session.id, session.organization_id)) ?? session, changed: false };
    },
    { label: 'endSession' },
  );
  if (result.session.end_reason === 'USER_DELETED') throw userDeleted(result.session.id);
  return result;
}
