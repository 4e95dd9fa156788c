import type { Catalog } from '../catalogs/types.ts';
import type { Context } from '../context.ts';
import type { OverageEpisode } from '../licensing/metering.ts';
import type { DenialCode, Refusal } from '../licensing/session-plan.ts';
import { builder } from '../schema/builder.ts';
import { notFound } from '../errors.ts';
import { must } from '../schema/loaders.ts';
import { OrganizationRef, ProductRef, productOfCatalog, UserRef } from '../schema/refs.ts';
import { catalogOf } from '../tenancy/access.ts';
import { seatHistory, sessionsOfUsers } from './sessions.repository.ts';
import { endSession, heartbeat } from './end.ts';
import { type PoolUsage, type SeatUsageSnapshot, seatUsage } from './seat-usage.ts';
import { END_REASONS, SEAT_KINDS, type Session } from './session.ts';
import { type StartResult, startSession } from './start.ts';
import { type UsageRow, usageBetween } from './usage.service.ts';

const SEAT_KIND_DESCRIPTIONS: Record<(typeof SEAT_KINDS)[number], string> = {
  REGULAR: 'A regular seat of a concurrent pool.',
  EMERGENCY: 'An emergency seat, taken when the regular seats are full (R-EMER-1).',
  OVERAGE: 'A seat beyond capacity and emergency, where overage is allowed (R-OVER-1).',
  DEMO: 'A seat of the demo pool: the licence is in NONE, PENDING or DEMO (R-DEMO-1).',
  NAMED:
    'No seat: the user holds a named or fixed-seat user licence (a Zoom tier on the named model, a connect storm fixed seat) and logs in with it (R-NAMED-5).',
};

export const SeatKindEnum = builder.enumType('SeatKind', {
  values: Object.fromEntries(SEAT_KINDS.map((kind) => [kind, { description: SEAT_KIND_DESCRIPTIONS[kind] }])) as Record<
    (typeof SEAT_KINDS)[number],
    { description: string }
  >,
});

const SessionEndReasonEnum = builder.enumType('SessionEndReason', {
  description:
    'Why a session ended: ENDED (by its client), EXPIRED (no heartbeat), or USER_DELETED, USER_INACTIVE, USER_PREPARING (its user was deleted or left ACTIVE).',
  values: END_REASONS,
});

const DenialCodeEnum = builder.enumType('DenialCode', {
  values: [
    'NO_SEAT_AVAILABLE',
    'NOT_LICENSED',
    'USER_NOT_ACTIVE',
    'LICENSE_INACTIVE',
    'DEMO_LIMIT_REACHED',
    'MISSING_PREREQUISITE',
  ] as const satisfies readonly DenialCode[],
});

export const SessionRef = builder.objectRef<Session>('Session').implement({
  fields: (t) => ({
    id: t.exposeID('id'),
    user: t.field({
      type: UserRef,
      // Deleted while this answer was being written (a deletion ends the user's sessions): a coded refusal, not a fault.
      resolve: async (s, _a, ctx) => {
        const user = await ctx.loaders.user.load(s.user_id);
        if (!user) throw notFound('user', s.user_id, { reason: 'USER_DELETED', why: 'the user was deleted and their session ended' });
        return user;
      },
    }),
    seatKind: t.field({
      type: SeatKindEnum,
      description:
        'The most exceptional seat the session took: REGULAR, EMERGENCY, OVERAGE, DEMO in demo mode, or NAMED when the user logs in with a named or fixed-seat licence and takes no seat.',
      resolve: (s) => s.seat_kind,
    }),
    startedAt: t.field({ type: 'DateTime', resolve: (s) => s.started_at }),
    expiresAt: t.field({
      type: 'DateTime',
      description: 'Renew with heartbeat before this instant (R-CONC-3).',
      resolve: (s) => s.expires_at,
    }),
    endedAt: t.field({ type: 'DateTime', nullable: true, resolve: (s) => s.ended_at }),
    endReason: t.field({
      type: SessionEndReasonEnum,
      nullable: true,
      description:
        'ENDED (by its client), EXPIRED (no heartbeat), or USER_DELETED, USER_INACTIVE, USER_PREPARING (its user was deleted or left ACTIVE).',
      resolve: (s) => s.end_reason,
    }),
    channels: t.stringList({
      description: 'The channels and concurrent features (R-FEAT-1) the session is licensed for.',
      resolve: (s) => s.channels,
    }),
    deviceId: t.string({ nullable: true, resolve: (s) => s.device_id }),
  }),
});

const DenialRef = builder.objectRef<Refusal>('Denial').implement({
  fields: (t) => ({ code: t.field({ type: DenialCodeEnum, resolve: (d) => d.code }), message: t.exposeString('message') }),
});

const ChannelDenialRef = builder.objectRef<{ channel: string; code: DenialCode; message: string }>('ChannelDenial').implement({
  fields: (t) => ({
    channel: t.exposeString('channel'),
    code: t.field({ type: DenialCodeEnum, resolve: (d) => d.code }),
    message: t.exposeString('message'),
  }),
});

const PoolUsageRef = builder.objectRef<{ catalog: Catalog; pool: PoolUsage }>('PoolUsage').implement({
  fields: (t) => ({
    product: t.field({ type: ProductRef, resolve: (p) => productOfCatalog(p.catalog, p.pool.product) }),
    capacity: t.int({ resolve: (p) => p.pool.capacity }),
    inUse: t.int({ description: 'Regular seats in use (at most capacity).', resolve: (p) => p.pool.inUse }),
    emergencyCapacity: t.int({ resolve: (p) => p.pool.emergencyCapacity }),
    emergencyInUse: t.int({ resolve: (p) => p.pool.emergencyInUse }),
    overageInUse: t.int({ resolve: (p) => p.pool.overageInUse }),
    maxPossible: t.int({
      description: 'capacity + emergencyCapacity, or demoAgentLimit in demo mode.',
      resolve: (p) => p.pool.maxPossible,
    }),
    peakToday: t.int({ description: 'Most seats in use at once today (UTC), every kind counted.', resolve: (p) => p.pool.peakToday }),
  }),
});

export const SeatUsageRef = builder.objectRef<{ catalog: Catalog; snapshot: SeatUsageSnapshot }>('SeatUsage').implement({
  fields: (t) => ({
    organizationId: t.id({ resolve: (u) => u.snapshot.organizationId }),
    at: t.field({ type: 'DateTime', resolve: (u) => u.snapshot.at }),
    pools: t.field({ type: [PoolUsageRef], resolve: (u) => u.snapshot.pools.map((pool) => ({ catalog: u.catalog, pool })) }),
  }),
});

const OverageEpisodeRef = builder.objectRef<OverageEpisode>('OverageEpisode').implement({
  fields: (t) => ({
    startedAt: t.field({ type: 'DateTime', resolve: (e) => e.startedAt }),
    endedAt: t.field({ type: 'DateTime', nullable: true, resolve: (e) => e.endedAt }),
    peakExcess: t.exposeInt('peakExcess'),
    billable: t.exposeBoolean('billable', {
      description: "False while an episode is shorter than the product's overage grace (30 minutes by default).",
    }),
  }),
});

const UsageRowRef = builder.objectRef<{ catalog: Catalog; row: UsageRow }>('UsageRow').implement({
  fields: (t) => ({
    product: t.field({ type: ProductRef, resolve: (u) => productOfCatalog(u.catalog, u.row.product) }),
    peakConcurrent: t.int({
      description: 'Most seats in use at once: regular + emergency + overage (R-METER-0).',
      resolve: (u) => u.row.peakConcurrent,
    }),
    emergencyPeak: t.int({ resolve: (u) => u.row.emergencyPeak }),
    overageEpisodes: t.field({ type: [OverageEpisodeRef], resolve: (u) => u.row.episodes }),
    billableOverage: t.int({ description: 'Sum over billable episodes of their peak excess.', resolve: (u) => u.row.billableOverage }),
  }),
});

/** The current pools of an organization, as the query and the subscription show them. */
export async function seatUsageOf(ctx: Context, organizationId: string) {
  const org = await must(ctx.loaders.organization, organizationId, 'organization');
  const catalog = catalogOf(ctx, org);
  return { catalog, snapshot: await seatUsage(ctx.db, org, catalog, ctx.clock.now(), ctx.caches.parsedKeys) };
}

builder.objectFields(OrganizationRef, (t) => ({
  seatUsage: t.field({
    type: SeatUsageRef,
    description: 'Current and maximum possible utilization of every pool (R-MON-1).',
    resolve: (org, _a, ctx) => seatUsageOf(ctx, org.id),
  }),
  usage: t.field({
    type: [UsageRowRef],
    description: 'Peaks, emergency peaks and overage episodes of every pool in [from, to) (R-METER-1).',
    args: { from: t.arg({ type: 'DateTime', required: true }), to: t.arg({ type: 'DateTime', required: true }) },
    resolve: async (org, args, ctx) => {
      const catalog = catalogOf(ctx, org);
      return (await usageBetween(ctx.db, org, catalog, args.from, args.to, ctx.clock.now())).map((row) => ({ catalog, row }));
    },
  }),
}));

const SeatHistoryPointRef = builder
  .objectRef<{ catalog: Catalog; product: string; at: Date; inUse: number }>('SeatHistoryPoint')
  .implement({
    description: 'A pool counter value from `at` until the next point of the same product (every kind of seat counted).',
    fields: (t) => ({
      product: t.field({ type: ProductRef, resolve: (p) => productOfCatalog(p.catalog, p.product) }),
      at: t.field({ type: 'DateTime', resolve: (p) => p.at }),
      inUse: t.exposeInt('inUse'),
    }),
  });

builder.objectFields(OrganizationRef, (t) => ({
  seatHistory: t.field({
    type: [SeatHistoryPointRef],
    description:
      'Every change of the pools in [from, to), oldest first, starting with the values in force at `from` (at most 10,000 points): the dashboard chart.',
    args: { from: t.arg({ type: 'DateTime', required: true }), to: t.arg({ type: 'DateTime', required: true }) },
    resolve: async (org, args, ctx) => {
      const catalog = catalogOf(ctx, org);
      const known = new Set(catalog.products.map((p) => p.code));
      return (await seatHistory(ctx.db, org.id, args.from, args.to, 10_000))
        .filter((r) => known.has(r.product_code))
        .map((r) => ({ catalog, product: r.product_code, at: r.at, inUse: r.in_use }));
    },
  }),
}));

builder.objectFields(UserRef, (t) => ({
  sessions: t.field({
    type: [SessionRef],
    description: 'The open session and those of the last 24 hours, newest first.',
    resolve: (user, _a, ctx) => sessionsOfUsers(ctx.db, [user.id], new Date(ctx.clock.now().getTime() - 86_400_000)),
  }),
}));

const StartSessionInput = builder.inputType('StartSessionInput', {
  fields: (t) => ({
    userId: t.id(),
    channels: t.stringList({
      required: false,
      description:
        'Channels the agent wants to handle (VOICE, EMAIL, WEBCHAT, SMS ...) and concurrent feature licences they want to use, by product code (CALL_RECORDING, REPORTING, CONFERENCE ...; R-FEAT-1).',
    }),
    deviceId: t.string({ required: false }),
  }),
});
const HeartbeatInput = builder.inputType('HeartbeatInput', { fields: (t) => ({ sessionId: t.id() }) });
const EndSessionInput = builder.inputType('EndSessionInput', { fields: (t) => ({ sessionId: t.id() }) });

const StartSessionPayload = builder.objectRef<StartResult>('StartSessionPayload').implement({
  fields: (t) => ({
    granted: t.exposeBoolean('granted'),
    session: t.field({ type: SessionRef, nullable: true, resolve: (r) => r.session }),
    denial: t.field({ type: DenialRef, nullable: true, resolve: (r) => r.denial }),
    grantedChannels: t.exposeStringList('grantedChannels'),
    deniedChannels: t.field({ type: [ChannelDenialRef], resolve: (r) => r.deniedChannels }),
  }),
});
const HeartbeatPayload = builder.objectRef<{ session: Session }>('HeartbeatPayload').implement({
  fields: (t) => ({
    session: t.field({
      type: SessionRef,
      description: 'endedAt is set when the session had expired: start a new one.',
      resolve: (p) => p.session,
    }),
  }),
});
const EndSessionPayload = builder.objectRef<{ session: Session }>('EndSessionPayload').implement({
  fields: (t) => ({ session: t.field({ type: SessionRef, resolve: (p) => p.session }) }),
});

builder.mutationFields((t) => ({
  startSession: t.field({
    type: StartSessionPayload,
    description:
      'Takes one seat of every concurrent seat product the user is eligible for, in one transaction (R-CONC-1); regular seats first, then emergency (R-EMER-1), then overage where allowed (R-OVER-1). A second start returns the open session. Refusals are data: granted false with a denial.',
    args: { input: t.arg({ type: StartSessionInput, required: true }) },
    resolve: (_root, { input }, ctx) => startSession(ctx, input),
  }),
  heartbeat: t.field({
    type: HeartbeatPayload,
    description: 'Renews the session for SESSION_TTL_SECONDS (R-CONC-3).',
    args: { input: t.arg({ type: HeartbeatInput, required: true }) },
    resolve: async (_root, { input }, ctx) => ({ session: await heartbeat(ctx, input) }),
  }),
  endSession: t.field({
    type: EndSessionPayload,
    description: 'Ends the session and frees its seats.',
    args: { input: t.arg({ type: EndSessionInput, required: true }) },
    resolve: async (_root, { input }, ctx) => ({ session: (await endSession(ctx, input)).session }),
  }),
}));
