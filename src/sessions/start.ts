/**
 * Starting a session (R-CONC-1, R-CHAN-1, R-DEMO-1): `startSession` takes one
 * seat of every concurrent seat product the user is eligible for, plus a
 * unit for each requested channel that needs one, all or nothing, by one of
 * three paths, tried in this order:
 *
 * 1. THE ONE STATEMENT (`startDirect`): an organization token, no channels,
 *    and the organization's licensing known from an earlier probe
 *    (`StartCache`): the whole start is ONE round trip, a statement that
 *    checks what a probe would have read and takes the seat
 *    (`startWithOneSeat` in sessions.repository.ts). Null when anything
 *    differs: the next path decides.
 * 2. THE PROBE PATH (`startAfterProbe`): one lock-free read of the user,
 *    organization, grants and open session (`probeStart`), the plan
 *    (`planSession`, licensing/session-plan.ts), and, for one seat and no
 *    pooled channel, the same one statement for the planned pool. Null when
 *    the case needs a transaction.
 * 3. THE TRANSACTIONAL PATH (`startTransactional`): everything else (several
 *    seat products, pooled channels and features (R-FEAT-1), a named session
 *    that takes no seat (R-NAMED-5), demo mode with the sessions carried over
 *    from full use counted against its limit (R-DEMO-2), an overdue open
 *    session), one transaction in the lock order (lock-order.ts).
 *
 * Every path counts the seat with a conditional UPDATE under the pool row's
 * lock, after the user's row is share-locked. A user has at most one open
 * session: starting again returns it (`openSession`). Refusals are data
 * (`granted: false`, `denial`, from `refusal` and the plan).
 */
import { actorOf, authorize, requireAuthenticated, viewerOrganization } from '../auth/viewer.ts';
import type { Catalog, HolderFact } from '../catalogs/types.ts';
import type { Context } from '../context.ts';
import type { Executor } from '../db/database.ts';
import type { NewSessionSeat } from '../db/schema.ts';
import type { LicenseKey } from '../licenses/license-key.ts';
import type { Organization } from '../tenancy/domain.ts';
import { retrying, sqlState, withTransaction } from '../db/transaction.ts';
import { badInput, notFound } from '../errors.ts';
import { appendEvents, eventRow } from '../events/events.repository.ts';
import { isId, newId } from '../ids.ts';
import { dayOf } from '../licensing/billing.ts';
import { demoStartFits as fitsDemoLimit } from '../licensing/demo-switch.ts';
import { type EntitlementView, entitlementsOf } from '../licensing/entitlements.ts';
import { effectiveInstant, nextTransitionAt, type LicenseStatusResult } from '../licensing/lifecycle.ts';
import { grantsWithFacts, holdsLicenceNeedingFacts, needsHolderFacts } from '../licensing/holder-facts.ts';
import { kindOfSeat } from '../licensing/metering.ts';
import { admitSeat, type BoundRefusal } from '../licensing/reservations.ts';
import { boundsOf, openSeatsByUnit, type StoredBound } from '../reservations/reservations.repository.ts';
import { concurrentSeatProducts, DEMO_POOL } from '../licensing/seats.ts';
import {
  channelUnitTaken,
  type ChannelDenial,
  planSession,
  type Refusal,
  type RefusalCause,
  refusal,
  type SeatPlan,
  type SessionSeatKind,
  sessionKind,
} from '../licensing/session-plan.ts';
import { keysOfOrganizations } from '../licenses/license.repository.ts';
import { statusFrom } from '../allocation/keys.ts';
import { usersWithSecurityKey } from '../second-factor/security-keys.repository.ts';
import { catalogOf } from '../tenancy/access.ts';
import { findOrganization } from '../tenancy/tenancy.repository.ts';
import { recordDenial } from './denials.ts';
import { endSessionRows, expireDue, expiresCapMs, SYSTEM } from './end.ts';
import type { Session } from './session.ts';
import type { StartCacheEntry } from './start-cache.ts';
import * as repo from './sessions.repository.ts';

export interface StartResult {
  granted: boolean;
  session: Session | null;
  denial: Refusal | null;
  grantedChannels: string[];
  deniedChannels: ChannelDenial[];
}

/** The user already has an open session: starting again returns it. */
const openSession = (session: Session): StartResult => ({
  granted: true,
  session,
  denial: null,
  grantedChannels: session.channels,
  deniedChannels: [],
});

const refused = (denial: Refusal): StartResult => ({ granted: false, session: null, denial, grantedChannels: [], deniedChannels: [] });

const granted = (session: Session, grantedChannels: string[], deniedChannels: ChannelDenial[]): StartResult => ({
  granted: true,
  session,
  denial: null,
  grantedChannels,
  deniedChannels,
});

/** A refusal decided inside a start: rolls its transaction back (seats already taken in it are returned). */
class Denied extends Error {
  constructor(readonly refusal: Refusal) {
    super(refusal.message);
  }
}
const deny = (cause: RefusalCause | Refusal): never => {
  throw new Denied('message' in cause ? cause : refusal(cause));
};

/**
 * Lazily freeing seats (R-CONC-3) would lock the pools of overdue sessions in
 * the middle of a start, out of the lock order; instead the start rolls back
 * with this, the overdue sessions are expired in a transaction of their own,
 * and the start runs again.
 */
export class ExpireFirst extends Error {
  constructor(readonly organizationId: string) {
    super('overdue sessions to expire first');
  }
}

const isUniqueViolation = (error: unknown) => sqlState(error) === '23505';

export const channelSuffix = (granted: readonly string[], denied: readonly ChannelDenial[]) =>
  `${granted.length ? `; channels ${granted.join(', ')}` : ''}${denied.length ? `; denied ${denied.map((d) => `${d.channel} (${d.code})`).join(', ')}` : ''}`;

/** The organization's licensing as a start decides by it. */
export interface Licensing {
  catalog: Catalog;
  status: LicenseStatusResult;
  entitlements: EntitlementView[];
}

function licensingFrom(ctx: Context, org: Organization, keys: readonly LicenseKey[]): Licensing {
  const catalog = catalogOf(ctx, org);
  const status = statusFrom(org, keys, ctx.clock.now(), ctx.caches.parsedKeys);
  return { catalog, status, entitlements: entitlementsOf(catalog, status.entitlements) };
}

export async function licensingOf(ctx: Context, trx: Executor, organizationId: string): Promise<Licensing> {
  const [org, keys] = await Promise.all([findOrganization(trx, organizationId), keysOfOrganizations(trx, [organizationId])]);
  if (!org) throw new Error(`organization ${organizationId} vanished`);
  return licensingFrom(ctx, org, keys);
}

/** The plan of a start, or its refusal (thrown: a transaction in progress rolls back). */
function planOrDeny(
  licensing: Licensing,
  grants: ReadonlyMap<string, string>,
  channels: readonly string[],
  userName: string,
  gaps?: ReadonlyMap<string, readonly string[]>,
): SeatPlan {
  const outcome = planSession({
    catalog: licensing.catalog,
    entitlements: licensing.entitlements,
    status: licensing.status,
    grants,
    channels,
    userName,
    ...(gaps && { gaps }),
  });
  return 'refusal' in outcome ? deny(outcome.refusal) : outcome.plan;
}

/** The stored keys of the probe's organization: from the start cache while its revision is unchanged. */
async function keysOf(ctx: Context, probe: repo.StartProbe): Promise<LicenseKey[]> {
  const org = probe.organization;
  const last = ctx.startCache.get(org.id);
  // Keys read after the probe may be newer than its revision; kept under that revision, they are read again next time.
  const keys = last && last.revision === org.revision ? last.keys : await keysOfOrganizations(ctx.db, [org.id]);
  ctx.startCache.set(org.id, { revision: org.revision, org, keys });
  return keys;
}

/**
 * R-CONC-1: takes one seat of every concurrent seat product the user is
 * eligible for, plus a unit for each requested channel that needs one
 * (R-CHAN-1), all or nothing, by the first of the three paths (see the top
 * of this file) that can decide. A user has at most one open session:
 * starting again returns it. Refusals are data (`granted: false`, `denial`).
 */
export async function startSession(
  ctx: Context,
  input: { userId: string; channels?: readonly string[] | null; deviceId?: string | null },
): Promise<StartResult> {
  const result = await decideStart(ctx, input);
  // Every refusal of every path, after any rollback: counted and logged (denials.ts).
  if (result.denial) await recordDenial(ctx, input.userId, result.denial);
  return result;
}

async function decideStart(
  ctx: Context,
  input: { userId: string; channels?: readonly string[] | null; deviceId?: string | null },
  attempt = 1,
): Promise<StartResult> {
  const channels = [...new Set((input.channels ?? []).map((c) => c.trim().toUpperCase()))];
  channels.forEach((c, i) => {
    if (!/^[A-Z][A-Z0-9_]{0,31}$/.test(c))
      throw badInput(`input.channels[${i}]`, 'must be a channel name such as VOICE, EMAIL, WEBCHAT or SMS');
  });
  if (input.deviceId != null && input.deviceId.length > 200) throw badInput('input.deviceId', 'must be at most 200 characters');
  requireAuthenticated(ctx.viewer);
  // 1. The one statement. Racing a start of the same user (unique index): the probe path below returns the session that won.
  const direct =
    channels.length === 0 && isId(input.userId)
      ? await startDirect(ctx, input.userId, input.deviceId ?? null).catch((error: unknown) => {
          if (isUniqueViolation(error)) return null;
          throw error;
        })
      : null;
  if (direct) return direct;
  const probe = isId(input.userId) ? await repo.probeStart(ctx.db, input.userId, viewerOrganization(ctx.viewer)) : undefined;
  if (!probe) throw notFound('user', input.userId);
  authorize(ctx.viewer, probe.user.organization_id, 'sessions', 'user', input.userId);
  const user = probe.user;
  if (user.status !== 'ACTIVE') return refused(refusal({ code: 'USER_NOT_ACTIVE', userName: user.name, status: user.status }));
  const deviceId = input.deviceId ?? null;

  try {
    // 2. The probe path, then 3. the transactional path.
    const fast = await startAfterProbe(ctx, probe, channels, deviceId);
    if (fast) return fast;
    return await startTransactional(ctx, user, channels, deviceId);
  } catch (error) {
    if (error instanceof Denied) return refused(error.refusal);
    // Another request of the same user won the race to open a session (unique index): return that one.
    if (isUniqueViolation(error)) {
      const open = await repo.openSessionOf(ctx.db, user.organization_id, user.id);
      if (open) return openSession(open);
      // The session that won ended before it could be read (another client of the same user): start again, once.
      if (attempt === 1) return decideStart(ctx, input, attempt + 1);
    }
    throw error;
  }
}

function newSession(ctx: Context, orgId: string, userId: string, now: Date, channels: string[], deviceId: string | null): Session {
  return {
    organization_id: orgId,
    id: newId(now),
    user_id: userId,
    seat_kind: 'REGULAR',
    started_at: now,
    expires_at: new Date(now.getTime() + ctx.sessionTtlSeconds * 1000),
    ended_at: null,
    end_reason: null,
    channels,
    device_id: deviceId,
    api_token_id: actorOf(ctx.viewer).apiTokenId,
  };
}

/** The one statement (`startWithOneSeat`) for `session`, with its SESSION_STARTED event. */
function startStatement(ctx: Context, session: Session, pool: repo.SingleSeatStart['pool'], detailSuffix: string) {
  const actor = actorOf(ctx.viewer);
  const now = session.started_at;
  const event = eventRow(
    { organizationId: session.organization_id, type: 'SESSION_STARTED', at: now, userId: session.user_id, ...actor },
    newId(now),
  );
  return retrying(
    ctx.db,
    () =>
      repo.startWithOneSeat(ctx.db, {
        organizationId: session.organization_id,
        pool,
        today: dayOf(now),
        session: {
          id: session.id,
          userId: session.user_id,
          startedAt: now,
          expiresAt: session.expires_at,
          expiresCapMs: expiresCapMs(ctx),
          deviceId: session.device_id,
          apiTokenId: actor.apiTokenId,
          channels: session.channels,
        },
        event: { row: event, detailSuffix },
      }),
    { label: 'startSession' },
  );
}

/**
 * Path 1, THE ONE STATEMENT: the usual start of an agent client in ONE round
 * trip: a token of the organization, no channels, and the organization's
 * licensing known from an earlier probe. The statement itself checks
 * everything the probe would have read (user ACTIVE, no open session,
 * exactly one granted seat product, the organization unchanged since: its
 * revision and high-water time) and takes the seat; a full pool with no
 * overdue session to expire is NO_SEAT_AVAILABLE at once. Null whenever
 * anything differs, or overdue sessions could free a seat: then the probe
 * path decides, with the exact answer (open session, denial, expiry of
 * overdue sessions, error).
 */
async function startDirect(ctx: Context, userId: string, deviceId: string | null): Promise<StartResult | null> {
  const viewer = ctx.viewer;
  if (viewer.kind !== 'token') return null;
  const orgId = viewer.organizationId;
  const last = ctx.startCache.get(orgId);
  if (!last) return null;
  try {
    authorize(viewer, orgId, 'sessions', 'user', userId);
  } catch {
    return null; // the probe path gives the error, in its order (NOT_FOUND before FORBIDDEN)
  }
  const seatProducts = directSeatProducts(ctx, last);
  if (seatProducts === null) return null;
  const session = newSession(ctx, orgId, userId, ctx.clock.now(), [], deviceId);
  const { product, taken, overdue } = await startStatement(
    ctx,
    session,
    { direct: { userId, revision: last.revision, highWater: last.org.clock_high_water, seatProducts } },
    '',
  );
  if (product && !taken && !overdue) return refused(refusal({ code: 'NO_SEAT_AVAILABLE', product }));
  if (!product || !taken) return null;
  return granted({ ...session, seat_kind: taken.seat_kind }, [], []);
}

/**
 * The seat products the one statement may take for `last`'s organization at
 * this start's effective instant (R-LIFE-6: max(now, high-water time)); null
 * when the probe path must decide: no full use, no seat licence, or a seat
 * whose holder needs a recorded fact (R-2FA-2). The licence state and its
 * entitlements change only at `nextTransitionAt`, so the answer is kept on
 * the cache entry for the span from the instant it was judged at to that
 * transition: a storm judges the licence once, not once per start. A new
 * probe (another revision) replaces the entry and the answer with it; an
 * instant outside the span (a clock set back, a transition reached) judges
 * it again.
 */
function directSeatProducts(ctx: Context, last: StartCacheEntry): readonly string[] | null {
  const at = effectiveInstant(ctx.clock.now(), last.org.clock_high_water).getTime();
  const known = last.direct;
  if (known && at >= known.from && (known.until === null || at < known.until)) return known.seatProducts;
  const licensing = licensingFrom(ctx, last.org, last.keys);
  const seatPools = licensing.status.fullUse ? concurrentSeatProducts(licensing.catalog, licensing.entitlements) : [];
  const seatProducts = seatPools.length === 0 || seatPools.some(needsHolderFacts) ? null : seatPools.map((p) => p.code);
  const until = nextTransitionAt(licensing.status);
  last.direct = { from: licensing.status.effectiveAt.getTime(), until: until === null ? null : until.getTime(), seatProducts };
  return seatProducts;
}

/**
 * Path 2, THE PROBE PATH: decides from the probe (one lock-free read) and,
 * when the plan is one seat and no pooled channel, starts with the one
 * statement for that pool; a full pool first expires overdue sessions
 * (R-CONC-3) and tries once more. Null when the case needs the
 * transactional path (an overdue open session, demo mode, several units, or
 * the user changed since the probe).
 */
async function startAfterProbe(
  ctx: Context,
  probe: repo.StartProbe,
  channels: readonly string[],
  deviceId: string | null,
): Promise<StartResult | null> {
  const { user, open } = probe;
  const orgId = user.organization_id;
  const now = ctx.clock.now();
  if (open && open.expires_at > now) return openSession(open);
  if (open) return null;
  const licensing = licensingFrom(ctx, probe.organization, await keysOf(ctx, probe));
  if (!licensing.status.fullUse) return null;
  // A granted licence whose holder needs a recorded fact (R-2FA-2): the transactional path reads the fact.
  if (
    holdsLicenceNeedingFacts(
      licensing.catalog,
      probe.grants.map((g) => ({ product: g.product_code, status: g.status })),
    )
  )
    return null;
  const plan = planOrDeny(licensing, new Map(probe.grants.map((g) => [g.product_code, g.status])), channels, user.name);
  const [product] = plan.seatProducts;
  if (!product || plan.seatProducts.length > 1 || plan.pooledChannels.length > 0) return null;
  // R-RES: a pool with reservations or caps is decided under its lock, by the transactional path.
  if (probe.bounded.includes(product)) return null;

  const session = newSession(ctx, orgId, user.id, now, plan.heldChannels, deviceId);
  const attempt = () => startStatement(ctx, session, { product }, channelSuffix(plan.heldChannels, plan.deniedChannels));
  let result = await attempt();
  // The user is no longer ACTIVE (or gone) since the probe: the transactional path gives the exact answer.
  if (!result.product) return null;
  if (!result.taken) {
    // Full: give back the seats of sessions nobody renewed (a crashed instance's), then try once more (R-CONC-3).
    const expired = await withTransaction(ctx.db, (trx) => expireDue(trx, now, 50, orgId, SYSTEM), { label: 'expireSessions' });
    if (expired > 0) result = await attempt();
    if (!result.product) return null;
  }
  const { taken } = result;
  if (!taken) return deny({ code: 'NO_SEAT_AVAILABLE', product });
  return granted({ ...session, seat_kind: taken.seat_kind }, plan.heldChannels, plan.deniedChannels);
}

/**
 * Path 3, THE TRANSACTIONAL PATH: one transaction (retried on a deadlock),
 * run again after expiring overdue sessions when it found some in its way
 * (at most twice; the last run ends them itself).
 */
async function startTransactional(
  ctx: Context,
  user: { id: string; name: string; organization_id: string },
  channels: string[],
  deviceId: string | null,
): Promise<StartResult> {
  for (let round = 0; ; round++) {
    const mayExpire = round < 2;
    try {
      return await withTransaction(ctx.db, (trx) => startInTransaction(ctx, trx, user, channels, deviceId, mayExpire), {
        label: 'startSession',
      });
    } catch (error) {
      if (!(error instanceof ExpireFirst) || !mayExpire) throw error;
      await withTransaction(ctx.db, (trx) => expireDue(trx, ctx.clock.now(), 50, error.organizationId, SYSTEM), {
        label: 'expireSessions',
      });
    }
  }
}

/**
 * Takes a unit of `product`. When the pool is full and this organization has
 * overdue sessions (a crashed instance's, R-CONC-3), rolls the start back to
 * expire them first (`ExpireFirst`).
 */
async function takeUnit(
  ctx: Context,
  trx: Executor,
  orgId: string,
  product: string,
  mayExpire: boolean,
): Promise<(repo.PoolCounter & { overage_allowed: boolean }) | null> {
  const now = ctx.clock.now();
  const counter = await repo.takeSeat(trx, orgId, product, dayOf(now));
  if (counter) return counter;
  if (mayExpire && (await repo.hasOverdue(trx, orgId, now))) throw new ExpireFirst(orgId);
  return null;
}

/**
 * R-RES-3 … R-RES-5: whether one more unit of `product` for this member keeps
 * the pool's reservations and caps (`bounds`, read before any pool lock):
 * null when it does, else the refusal naming the bound. Under the pool's row
 * lock (lock order step 3: held by the seat take just made, `taken`, or
 * taken here first with `lockPoolCounter`), so the seats it counts by unit
 * are exact: every take and release of the pool waits for that lock.
 */
async function boundRefusal(
  trx: Executor,
  orgId: string,
  product: string,
  bounds: readonly StoredBound[],
  member: { siteId: string; groupId: string | null },
  taken?: repo.PoolCounter & { overage_allowed: boolean },
): Promise<BoundRefusal | null> {
  const own = bounds.filter((b) => b.product === product);
  if (own.length === 0) return null;
  const pool = taken ? { ...taken, in_use: taken.in_use - 1 } : await repo.lockPoolCounter(trx, orgId, product);
  if (!pool) return null;
  const seats = await openSeatsByUnit(trx, orgId, product);
  return admitSeat(
    product,
    { capacity: pool.capacity, emergencyCapacity: pool.emergency_capacity, overageAllowed: pool.overage_allowed, inUse: pool.in_use },
    own,
    seats,
    member,
  );
}

/**
 * One channel or feature unit (R-CHAN-1, R-FEAT-1) within the reservations
 * and caps: decided under the pool's lock before it is taken, so a refusal
 * takes nothing (the session goes on without the channel). Used by the start
 * and by changeSessionChannels alike. Overdue sessions may hold the units a
 * bound counts: they are expired first (`ExpireFirst`, R-CONC-3).
 */
export async function takeChannelUnit(
  ctx: Context,
  trx: Executor,
  orgId: string,
  product: string,
  bounds: readonly StoredBound[],
  member: { siteId: string; groupId: string | null },
  mayExpire: boolean,
): Promise<{ counter: (repo.PoolCounter & { overage_allowed: boolean }) | null; bound: BoundRefusal | null }> {
  const bound = await boundRefusal(trx, orgId, product, bounds, member);
  if (!bound) return { counter: await takeUnit(ctx, trx, orgId, product, mayExpire), bound: null };
  if (mayExpire && (await repo.hasOverdue(trx, orgId, ctx.clock.now()))) throw new ExpireFirst(orgId);
  return { counter: null, bound };
}

/**
 * R-DEMO-2: whether a demo start that took its demo seat (`counter`) fits
 * the limit with the sessions carried over from full use. The demo pool's
 * row lock orders demo starts, so the count is exact; overdue carried-over
 * sessions are expired first (`ExpireFirst`) rather than counted.
 */
async function demoStartFits(ctx: Context, trx: Executor, orgId: string, counter: repo.PoolCounter, mayExpire: boolean): Promise<boolean> {
  const carriedOver = await repo.openNonDemoSessions(trx, orgId);
  if (carriedOver === 0) return true;
  const counts = { demoInUse: counter.in_use, carriedOver };
  if (fitsDemoLimit(counts, counter.capacity)) return true;
  if (mayExpire && (await repo.hasOverdue(trx, orgId, ctx.clock.now()))) throw new ExpireFirst(orgId);
  return false;
}

async function startInTransaction(
  ctx: Context,
  trx: Executor,
  user: { id: string; name: string; organization_id: string },
  channels: string[],
  deviceId: string | null,
  mayExpire: boolean,
): Promise<StartResult> {
  const now = ctx.clock.now();
  const orgId = user.organization_id;
  // Lock order 2: the user, share-locked until commit (a status change or deletion waits for this start).
  const locked = await repo.lockUserForStart(trx, orgId, user.id);
  if (!locked) throw notFound('user', user.id);
  if (locked.status !== 'ACTIVE') deny({ code: 'USER_NOT_ACTIVE', userName: user.name, status: locked.status });
  const open = await repo.openSessionOf(trx, orgId, user.id);
  if (open && open.expires_at > now) return openSession(open);
  if (open) {
    if (mayExpire) throw new ExpireFirst(orgId);
    await endSessionRows(trx, [open], now, 'EXPIRED', SYSTEM);
  }

  const licensing = await licensingOf(ctx, trx, orgId);
  // Demo mode takes no licence of the user's: their grants are not read.
  const stored = licensing.status.fullUse ? await repo.grantsOfUser(trx, orgId, user.id) : [];
  // R-2FA-2, R-NAMED-5: a licence whose holder lacks a recorded fact (a security key) is not the user's access.
  const facts = new Set<HolderFact>(
    holdsLicenceNeedingFacts(
      licensing.catalog,
      stored.map((g) => ({ product: g.product_code, status: g.status })),
    ) && (await usersWithSecurityKey(trx, orgId, [user.id])).has(user.id)
      ? ['SECURITY_KEY']
      : [],
  );
  const { grants, gaps } = grantsWithFacts(licensing.catalog, new Map(stored.map((g) => [g.product_code, g.status])), facts);
  const plan = planOrDeny(licensing, grants, channels, user.name, gaps);
  // Lock order 3: seat and channel units together, by product code.
  const taken = new Map<string, { product: string; kind: SessionSeatKind; channel: string | null; counter: repo.PoolCounter }>();
  const demoLimit = { code: 'DEMO_LIMIT_REACHED', state: licensing.status.state, demoAgentLimit: licensing.status.demoAgentLimit } as const;
  const member = { siteId: locked.site_id, groupId: locked.configuration_group_id };
  // R-RES: the organization's reservations and caps, read before any pool is locked.
  const bounds = plan.demo || plan.units.length === 0 ? [] : await boundsOf(trx, orgId);
  const boundDenied = new Map<string, BoundRefusal>();
  const overdueFirst = async () => {
    // Overdue sessions (a crashed instance's) may hold the seats a bound counts: expire them first (R-CONC-3).
    if (mayExpire && (await repo.hasOverdue(trx, orgId, now))) throw new ExpireFirst(orgId);
  };
  for (const { product, channel } of plan.units) {
    // A channel unit is decided under the pool's lock before it is taken (the session goes on without it) ...
    let counter: (repo.PoolCounter & { overage_allowed: boolean }) | null;
    if (channel !== null) {
      const unit = await takeChannelUnit(ctx, trx, orgId, product, bounds, member, mayExpire);
      if (unit.bound) {
        boundDenied.set(channel, unit.bound);
        continue;
      }
      counter = unit.counter;
    } else counter = await takeUnit(ctx, trx, orgId, product, mayExpire);
    // ... a seat right after its take, under the lock the take holds: a refusal rolls the take back.
    const seatBound = channel === null && counter ? await boundRefusal(trx, orgId, product, bounds, member, counter) : null;
    if (seatBound) {
      await overdueFirst();
      deny(seatBound);
    }
    if (!counter && channel === null) deny(plan.demo ? demoLimit : { code: 'NO_SEAT_AVAILABLE', product });
    // R-DEMO-2: sessions open since before the switch to demo mode count against the limit (read under the demo pool's lock).
    if (counter && product === DEMO_POOL && !(await demoStartFits(ctx, trx, orgId, counter, mayExpire))) deny(demoLimit);
    if (counter)
      taken.set(channel ?? `seat ${product}`, {
        product,
        kind: product === DEMO_POOL ? 'DEMO' : kindOfSeat(counter.in_use, counter.capacity, counter.emergency_capacity),
        channel,
        counter,
      });
  }
  // Reported as planned: seats, then channels (held ones first).
  const seats = plan.seatProducts.map((p) => taken.get(`seat ${p}`)!);
  const grantedChannels = [...plan.heldChannels];
  const deniedChannels = [...plan.deniedChannels];
  for (const { channel, product } of plan.pooledChannels) {
    const seat = taken.get(channel);
    if (seat) {
      seats.push(seat);
      grantedChannels.push(channel);
    } else {
      const bound = boundDenied.get(channel);
      deniedChannels.push(bound ? { channel, code: bound.code, message: bound.message } : channelUnitTaken(channel, product));
    }
  }

  const session: Session = {
    ...newSession(ctx, orgId, user.id, now, grantedChannels, deviceId),
    // The seat's kind, not the channel units': their kinds are the session's channelUnits (session_seats rows with a channel).
    seat_kind: sessionKind(
      seats.filter((s) => s.channel === null).map((s) => s.kind),
      plan.named,
    ),
  };
  const seatRows: NewSessionSeat[] = seats.map((s) => ({
    organization_id: orgId,
    session_id: session.id,
    product_code: s.product,
    seat_kind: s.kind,
    channel: s.channel,
    site_id: member.siteId,
    configuration_group_id: member.groupId,
  }));
  await repo.insertSession(trx, session, seatRows, expiresCapMs(ctx));
  await repo.recordUsage(
    trx,
    orgId,
    now,
    seats.map((s) => ({ product: s.product, counter: s.counter })),
  );
  const first = seats[0];
  await appendEvents(trx, [
    {
      organizationId: orgId,
      type: 'SESSION_STARTED',
      at: now,
      userId: user.id,
      productCode: first?.product === DEMO_POOL ? null : (first?.product ?? null),
      detail: `${[...(plan.named ? ['named, no seat'] : []), ...seats.map((s) => (s.product === DEMO_POOL ? 'demo seat' : `${s.product} ${s.kind}`))].join(', ')}${channelSuffix(grantedChannels, deniedChannels)}`,
      ...actorOf(ctx.viewer),
    },
  ]);
  return granted(session, grantedChannels, deniedChannels);
}
