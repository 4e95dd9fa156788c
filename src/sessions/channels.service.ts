/**
 * Changing the channels of an open session (an agent adds e-mail, drops SMS):
 * every added channel is licensed exactly as at the start (R-CHAN-1,
 * R-FEAT-1: held, or a unit of its concurrent pool, emergency first), every
 * dropped one frees its unit. One transaction in the lock order
 * (lock-order.ts): the user share-locked, then the pools by product code
 * (taking and freeing in that one order), then the session row, whose
 * update only applies to the channels the change was computed from (two
 * changes of one session never both apply to one state; the loser runs
 * again). The change writes SESSION_CHANNELS_CHANGED (webhook outbox and
 * NOTIFY as every event) and the usage points of the pools it touched.
 */
import { actorOf, authorize, requireAuthenticated, viewerOrganization } from '../auth/viewer.ts';
import type { Context } from '../context.ts';
import type { Executor } from '../db/database.ts';
import type { NewSessionSeat } from '../db/schema.ts';
import { withTransaction } from '../db/transaction.ts';
import { badInput, notFound } from '../errors.ts';
import { appendEvents } from '../events/events.repository.ts';
import { isId } from '../ids.ts';
import { dayOf } from '../licensing/billing.ts';
import { kindOfSeat } from '../licensing/metering.ts';
import { byCode, type ChannelDenial, channelUnitTaken, planSession, type SessionSeatKind } from '../licensing/session-plan.ts';
import { expireDue, SYSTEM } from './end.ts';
import type { Session } from './session.ts';
import * as repo from './sessions.repository.ts';
import { boundsOf } from '../reservations/reservations.repository.ts';
import { channelSuffix, ExpireFirst, licensingOf, takeChannelUnit } from './start.ts';

/** The most channels one session may name (a catalog has far fewer). */
export const MAX_SESSION_CHANNELS = 32;

export interface ChannelChangeResult {
  session: Session;
  /** Channels the session gained. */
  addedChannels: string[];
  /** Channels the session gave up (their units freed). */
  removedChannels: string[];
  /** Requested channels refused, each with its code (the session keeps its other channels). */
  deniedChannels: ChannelDenial[];
}

/** The session's channels changed since they were read (another change won): run the change again. */
class ChangedMeanwhile extends Error {
  constructor() {
    super('the session changed meanwhile');
  }
}

/** The requested channel list, normalized as at the start (upper case, distinct), each name checked. */
function channelList(channels: readonly string[]): string[] {
  if (channels.length > MAX_SESSION_CHANNELS) throw badInput('input.channels', `at most ${MAX_SESSION_CHANNELS} channels`);
  const list = [...new Set(channels.map((c) => c.trim().toUpperCase()))];
  list.forEach((c, i) => {
    if (!/^[A-Z][A-Z0-9_]{0,31}$/.test(c))
      throw badInput(`input.channels[${i}]`, 'must be a channel name such as VOICE, EMAIL, WEBCHAT or SMS');
  });
  return list;
}

/** No unit left in a pool for an added channel: the code of the start, and the rule. */
const noUnit = (channel: string, product: string): ChannelDenial => {
  const denial = channelUnitTaken(channel, product);
  return { ...denial, message: `${denial.message} (R-CHAN-1)` };
};

/**
 * R-CHAN-1: sets the channels of an open session to `channels` (the whole new
 * list): added ones are licensed as at the start, dropped ones free their
 * units. A channel that cannot be licensed is listed in `deniedChannels`
 * with its code and the session keeps the rest. NOT_FOUND for an unknown
 * session or one of another organization (R-SEC-2); BAD_USER_INPUT for a
 * session that has ended.
 */
export async function changeSessionChannels(
  ctx: Context,
  input: { sessionId: string; channels: readonly string[] },
): Promise<ChannelChangeResult> {
  const channels = channelList(input.channels);
  requireAuthenticated(ctx.viewer);
  for (let round = 0; ; round++) {
    // Rounds 0 and 1 may roll back to expire overdue sessions in a pool the change needs (as a start does); later ones do not.
    const mayExpire = round < 2;
    try {
      return await withTransaction(ctx.db, (trx) => changeInTransaction(ctx, trx, input.sessionId, channels, mayExpire), {
        label: 'changeSessionChannels',
      });
    } catch (error) {
      if (error instanceof ExpireFirst && mayExpire) {
        await withTransaction(ctx.db, (trx) => expireDue(trx, ctx.clock.now(), 50, error.organizationId, SYSTEM), {
          label: 'expireSessions',
        });
        continue;
      }
      if (error instanceof ChangedMeanwhile && round < 20) continue;
      throw error;
    }
  }
}

async function changeInTransaction(
  ctx: Context,
  trx: Executor,
  sessionId: string,
  channels: readonly string[],
  mayExpire: boolean,
): Promise<ChannelChangeResult> {
  const session = isId(sessionId) ? await repo.findSession(trx, sessionId, viewerOrganization(ctx.viewer)) : undefined;
  if (!session) throw notFound('session', sessionId);
  authorize(ctx.viewer, session.organization_id, 'sessions', 'session', sessionId);
  const now = ctx.clock.now();
  const ended = () => badInput('input.sessionId', 'the session has ended or expired: start a new one', 'R-CONC-3');
  if (session.ended_at || session.expires_at <= now) throw ended();
  const orgId = session.organization_id;

  // Lock order 2: the user, share-locked (a status change or deletion waits for this change, then ends the session).
  const user = await repo.lockUserForStart(trx, orgId, session.user_id);
  if (user?.status !== 'ACTIVE') throw ended();

  const current = session.channels;
  const added = channels.filter((c) => !current.includes(c));
  const removed = current.filter((c) => !channels.includes(c));
  const seats = await repo.seatsOfSessions(trx, orgId, [session.id]);
  const unitOf = new Map(seats.filter((s) => s.channel !== null).map((s) => [s.channel as string, s]));

  const licensing = await licensingOf(ctx, trx, orgId);
  const grants = licensing.status.fullUse
    ? new Map((await repo.grantsOfUser(trx, orgId, session.user_id)).map((g) => [g.product_code, g.status]))
    : new Map<string, string>();
  const denied: ChannelDenial[] = [];
  let held: string[] = [];
  let pooled: { channel: string; product: string }[] = [];
  if (added.length > 0) {
    const outcome = planSession({
      catalog: licensing.catalog,
      entitlements: licensing.entitlements,
      status: licensing.status,
      grants,
      channels: added,
      userName: session.user_id,
    });
    if ('refusal' in outcome) {
      // The user is no longer eligible for a session at all: no channel is added (the session is ended by the change that caused it).
      denied.push(...added.map((channel) => ({ channel, ...outcome.refusal })));
    } else {
      held = outcome.plan.heldChannels;
      pooled = outcome.plan.pooledChannels;
      denied.push(...outcome.plan.deniedChannels);
    }
  }

  // Lock order 3: every unit taken or freed, by product code.
  const ops = [
    ...pooled.map((c) => ({ kind: 'take' as const, ...c })),
    ...removed.flatMap((channel) => {
      const unit = unitOf.get(channel);
      return unit ? [{ kind: 'free' as const, channel, product: unit.product_code }] : [];
    }),
  ].sort((x, y) => byCode(x.product, y.product));
  const taken: { channel: string; product: string; kind: SessionSeatKind; counter: repo.PoolCounter }[] = [];
  const changes: { product: string; counter: repo.PoolCounter }[] = [];
  // R-RES: the organization's reservations and caps (read before any pool lock, as at the start); a unit counts
  // against the user's site and group of now.
  const member = { siteId: user.site_id, groupId: user.configuration_group_id };
  const bounds = ops.some((op) => op.kind === 'take') ? await boundsOf(trx, orgId) : [];
  for (const op of ops) {
    if (op.kind === 'take') {
      const { counter, bound } = await takeChannelUnit(ctx, trx, orgId, op.product, bounds, member, mayExpire);
      if (bound) {
        denied.push({ channel: op.channel, code: bound.code, message: bound.message });
        continue;
      }
      if (!counter) {
        denied.push(noUnit(op.channel, op.product));
        continue;
      }
      taken.push({ ...op, kind: kindOfSeat(counter.in_use, counter.capacity, counter.emergency_capacity), counter });
      changes.push({ product: op.product, counter });
    } else {
      const counter = await repo.releaseSeat(trx, orgId, op.product, dayOf(now));
      if (counter) changes.push({ product: op.product, counter });
    }
  }
  const gained = [...held, ...taken.map((t) => t.channel)];
  const addedChannels = added.filter((c) => gained.includes(c));
  const result = (s: Session): ChannelChangeResult => ({
    session: s,
    addedChannels,
    removedChannels: removed,
    deniedChannels: denied.sort((x, y) => byCode(x.channel, y.channel)),
  });
  if (addedChannels.length === 0 && removed.length === 0) return result(session);

  // Lock order 4: the session, only if it is still open with the channels this change was computed from.
  const next = [...current.filter((c) => !removed.includes(c)), ...addedChannels];
  const freedProducts = removed.flatMap((c) => (unitOf.has(c) ? [unitOf.get(c)!.product_code] : []));
  // R-CHAN-2: the session's seatKind describes its seat; channel units carry their own kinds (session_seats).
  const seatKind = session.seat_kind as SessionSeatKind;
  const updated = await repo.updateSessionChannels(trx, orgId, session.id, current, next, seatKind);
  if (!updated) {
    const now2 = await repo.findSession(trx, session.id, orgId);
    if (!now2 || now2.ended_at) throw ended();
    throw new ChangedMeanwhile();
  }
  await repo.deleteSessionSeats(trx, orgId, session.id, freedProducts);
  const newSeats: NewSessionSeat[] = taken.map((t) => ({
    organization_id: orgId,
    session_id: session.id,
    product_code: t.product,
    seat_kind: t.kind,
    channel: t.channel,
    site_id: member.siteId,
    configuration_group_id: member.groupId,
  }));
  await repo.insertSessionSeats(trx, newSeats);
  await repo.recordUsage(trx, orgId, now, changes);
  const detail = [
    `session ${session.id}`,
    ...taken.map((t) => `${t.product} ${t.kind}`),
    ...(removed.length ? [`removed ${removed.join(', ')}`] : []),
  ].join(', ');
  await appendEvents(trx, [
    {
      organizationId: orgId,
      type: 'SESSION_CHANNELS_CHANGED',
      at: now,
      userId: session.user_id,
      productCode: taken[0]?.product ?? null,
      detail: `${detail}${channelSuffix(next, denied)}`,
      ...actorOf(ctx.viewer),
    },
  ]);
  return result(updated);
}
