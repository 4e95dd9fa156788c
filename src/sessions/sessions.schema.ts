import type { Catalog } from '../catalogs/types.ts';
import type { Context } from '../context.ts';
import type { OverageEpisode } from '../licensing/metering.ts';
import type { DenialCode, Refusal } from '../licensing/session-plan.ts';
import { builder } from '../schema/builder.ts';
import { authorize, requireAuthenticated, viewerOrganization } from '../auth/viewer.ts';
import { badInput, notFound } from '../errors.ts';
import { isId } from '../ids.ts';
import { pageArgs } from '../schema/args.ts';
import { must, sessionSeatsKey } from '../schema/loaders.ts';
import { type Connection, parsePage, toConnection } from '../schema/pagination.ts';
import { NodeRef, OrganizationRef, PageInfoRef, ProductRef, productOfCatalog, UserRef } from '../schema/refs.ts';
import { catalogOf } from '../tenancy/access.ts';
import { type ChannelChangeResult, changeSessionChannels } from './channels.service.ts';
import { countOpenSessions, findSession, pageOfOpenSessions, seatHistory, sessionsOfUsers } from './sessions.repository.ts';
import { endSession, heartbeat } from './end.ts';
import { type PoolUsage, type SeatUsageSnapshot, seatUsage, type UnitUsage } from './seat-usage.ts';
import { type ChannelUnit, channelUnitsOf, type END_REASONS, SEAT_KINDS, type Session } from './session.ts';
import { type StartResult, startSession } from './start.ts';
import { type UsageDay, type UsageRow, usageBetween, usagePerDay } from './usage.service.ts';

const SEAT_KIND_DESCRIPTIONS: Record<(typeof SEAT_KINDS)[number], string> = {
  REGULAR: 'A regular seat of a concurrent pool.',
  EMERGENCY: 'An emergency seat, taken when the regular seats are full (R-EMER-1).',
  OVERAGE: 'A seat beyond capacity and emergency, where overage is allowed (R-OVER-1).',
  DEMO: 'A seat of the demo pool: the licence is in NONE, PENDING or DEMO (R-DEMO-1).',
  NAMED:
    'No seat: the user holds a named or fixed-seat user licence (a Zoom tier on the named model, a connect storm fixed seat) and logs in with it (R-NAMED-5).',
};

export const SeatKindEnum = builder.enumType('SeatKind', {
  description: 'Which kind of seat a session holds.',
  values: Object.fromEntries(SEAT_KINDS.map((kind) => [kind, { description: SEAT_KIND_DESCRIPTIONS[kind] }])) as Record<
    (typeof SEAT_KINDS)[number],
    { description: string }
  >,
});

const SessionEndReasonEnum = builder.enumType('SessionEndReason', {
  description:
    'Why a session ended: ENDED (by its client), EXPIRED (no heartbeat), or USER_DELETED, USER_INACTIVE, USER_PREPARING (its user was deleted or left ACTIVE).',
  values: {
    ENDED: { description: 'Ended by its client (endSession).' },
    EXPIRED: { description: 'No heartbeat within SESSION_TTL_SECONDS (R-CONC-3).' },
    USER_DELETED: { description: 'Its user was deleted.' },
    USER_INACTIVE: { description: 'Its user was made INACTIVE.' },
    USER_PREPARING: { description: 'Its user was set back to PREPARING.' },
  } satisfies Record<(typeof END_REASONS)[number], unknown>,
});

export const DenialCodeEnum = builder.enumType('DenialCode', {
  description: 'Why a session or one of its channels was refused (R-API-1: seat refusals are data).',
  values: {
    NO_SEAT_AVAILABLE: { description: 'Every seat of a pool is in use: capacity, emergency and any overage (R-CONC-4).' },
    NOT_LICENSED: { description: 'The user is not configured for the product or channel, or the organization has no licence of it.' },
    USER_NOT_ACTIVE: { description: 'Only ACTIVE users may start sessions.' },
    LICENSE_INACTIVE: { description: 'The licence is not in full use (demo mode): channel licences are not granted.' },
    DEMO_LIMIT_REACHED: { description: 'Demo mode: demoAgentLimit sessions are open already (R-DEMO-1).' },
    MISSING_PREREQUISITE: { description: 'A product is configured for the user but a prerequisite is missing (see User.explain).' },
    CAP_REACHED: {
      description: "The user's site or configuration group holds its cap of the product's seats (R-RES-5); the message names it.",
    },
    SEATS_RESERVED: {
      description: 'The free seats of the pool are reserved for other sites or configuration groups (R-RES-3); the message names them.',
    },
  } satisfies Record<DenialCode, unknown>,
});

const ChannelUnitRef = builder.objectRef<{ catalog: Catalog; unit: ChannelUnit }>('SessionChannelUnit').implement({
  description:
    "A unit of a concurrent channel or feature pool a session holds (R-CHAN-1, R-FEAT-1), with the unit's own kind: an emergency VOICE unit does not make the session's seat EMERGENCY.",
  fields: (t) => ({
    channel: t.string({
      description: 'The channel or feature asked for at start, e.g. VOICE or CALL_RECORDING.',
      resolve: (u) => u.unit.channel,
    }),
    product: t.field({
      type: ProductRef,
      description: 'The concurrent product whose pool the unit is of.',
      resolve: (u) => productOfCatalog(u.catalog, u.unit.product),
    }),
    kind: t.field({
      type: SeatKindEnum,
      description: 'REGULAR, EMERGENCY (the regular units were all taken) or OVERAGE: the kind of this unit, not of the seat.',
      resolve: (u) => u.unit.kind,
    }),
  }),
});

export const SessionRef = builder.objectRef<Session>('Session').implement({
  interfaces: [NodeRef],
  description: "A user's login: it holds seats of the concurrent pools while open and ends by endSession, expiry or a user change.",
  fields: (t) => ({
    id: t.exposeID('id', { description: 'The session id: pass it to heartbeat and endSession.' }),
    user: t.field({
      type: UserRef,
      description: 'The user logged in (an AGENT_CLIENT token reads its id and name).',
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
        "The kind of the session's seat (the most exceptional one when it took several seat products): REGULAR, EMERGENCY, OVERAGE, DEMO in demo mode, or NAMED when the user logs in with a named or fixed-seat licence and takes no seat. Channel and feature units have their own kinds (channelUnits).",
      resolve: (s) => s.seat_kind,
    }),
    startedAt: t.field({ type: 'DateTime', description: 'When the session started.', resolve: (s) => s.started_at }),
    expiresAt: t.field({
      type: 'DateTime',
      description: 'Renew with heartbeat before this instant (R-CONC-3).',
      resolve: (s) => s.expires_at,
    }),
    endedAt: t.field({
      type: 'DateTime',
      nullable: true,
      description: 'When the session ended; null while open.',
      resolve: (s) => s.ended_at,
    }),
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
    deviceId: t.string({ nullable: true, description: 'The device id given at start; null: none.', resolve: (s) => s.device_id }),
    channelUnits: t.field({
      type: [ChannelUnitRef],
      description:
        'The units of concurrent channel and feature pools the session holds, each with its own kind (REGULAR, EMERGENCY, OVERAGE), by channel; channels licensed without a pool (a held feature) take no unit and are not listed.',
      resolve: async (s, _a, ctx) => {
        const rows = await ctx.loaders.sessionSeats.load(sessionSeatsKey(s.organization_id, s.id));
        const units = channelUnitsOf(rows);
        if (units.length === 0) return [];
        const catalog = catalogOf(ctx, await must(ctx.loaders.organization, s.organization_id, 'organization'));
        return units.map((unit) => ({ catalog, unit }));
      },
    }),
  }),
});

const DenialRef = builder.objectRef<Refusal>('Denial').implement({
  description: 'Why startSession granted no session.',
  fields: (t) => ({
    code: t.field({ type: DenialCodeEnum, description: 'The reason, for programs.', resolve: (d) => d.code }),
    message: t.exposeString('message', { description: 'The reason in words, naming the product or limit.' }),
  }),
});

const ChannelDenialRef = builder.objectRef<{ channel: string; code: DenialCode; message: string }>('ChannelDenial').implement({
  description: 'A requested channel the session goes without (R-CHAN-1).',
  fields: (t) => ({
    channel: t.exposeString('channel', { description: 'The channel, e.g. SMS.' }),
    code: t.field({ type: DenialCodeEnum, description: 'The reason, for programs.', resolve: (d) => d.code }),
    message: t.exposeString('message', { description: 'The reason in words.' }),
  }),
});

export const SeatUnitUsageRef = builder.objectRef<UnitUsage>('SeatUnitUsage').implement({
  description:
    "A site's or configuration group's reservation and cap of one pool, and the seats its members hold (R-RES-6). A seat counts against the site and group its holder had when it was taken.",
  fields: (t) => ({
    siteId: t.exposeID('siteId', { description: 'The site of the bound (for a group: its site).' }),
    siteName: t.exposeString('siteName', { description: "The site's name." }),
    configurationGroupId: t.id({
      nullable: true,
      description: "The configuration group of the bound; null: the bound is the site's.",
      resolve: (u) => u.groupId,
    }),
    configurationGroupName: t.string({
      nullable: true,
      description: "The group's name; null for a site's bound.",
      resolve: (u) => u.groupName,
    }),
    reserved: t.exposeInt('reserved', { description: "Seats kept for the unit's members (R-RES-2, R-RES-3); 0: none." }),
    cap: t.exposeInt('cap', { nullable: true, description: 'Most seats its members hold at once, any kind (R-RES-5); null: no cap.' }),
    inUse: t.exposeInt('inUse', { description: 'Seats its members hold now, every kind.' }),
  }),
});

const PoolUsageRef = builder.objectRef<{ catalog: Catalog; pool: PoolUsage }>('PoolUsage').implement({
  description: 'One concurrent pool now: its seats and how many are in use.',
  fields: (t) => ({
    product: t.field({
      type: ProductRef,
      description: 'The concurrent product of the pool.',
      resolve: (p) => productOfCatalog(p.catalog, p.pool.product),
    }),
    capacity: t.int({
      description: 'Regular seats: the quantity the key grants (0 when the licence is not in full use).',
      resolve: (p) => p.pool.capacity,
    }),
    inUse: t.int({ description: 'Regular seats in use (at most capacity).', resolve: (p) => p.pool.inUse }),
    emergencyCapacity: t.int({ description: 'Emergency seats on top of capacity (R-EMER-1).', resolve: (p) => p.pool.emergencyCapacity }),
    emergencyInUse: t.int({ description: 'Emergency seats in use.', resolve: (p) => p.pool.emergencyInUse }),
    overageInUse: t.int({
      description: 'Sessions beyond capacity and emergency, where overage is allowed (R-OVER-1).',
      resolve: (p) => p.pool.overageInUse,
    }),
    maxPossible: t.int({
      description: 'capacity + emergencyCapacity, or demoAgentLimit in demo mode.',
      resolve: (p) => p.pool.maxPossible,
    }),
    peakToday: t.int({ description: 'Most seats in use at once today (UTC), every kind counted.', resolve: (p) => p.pool.peakToday }),
    deniedToday: t.int({
      description:
        'Agents turned away today (UTC): distinct users whose session start was refused for this pool (NO_SEAT_AVAILABLE; DEMO_LIMIT_REACHED in demo mode). Every refusal is a SESSION_DENIED event.',
      resolve: (p) => p.pool.deniedToday,
    }),
    units: t.field({
      type: [SeatUnitUsageRef],
      description: 'Per site and configuration group: reservation, cap and seats in use, for the units that have a bound (R-RES-6).',
      resolve: (p) => p.pool.units,
    }),
  }),
});

export const SeatUsageRef = builder.objectRef<{ catalog: Catalog; snapshot: SeatUsageSnapshot }>('SeatUsage').implement({
  description: "A snapshot of an organization's concurrent pools (R-LIVE-1).",
  fields: (t) => ({
    organizationId: t.id({ description: 'The organization of the pools.', resolve: (u) => u.snapshot.organizationId }),
    at: t.field({ type: 'DateTime', description: 'When the snapshot was taken.', resolve: (u) => u.snapshot.at }),
    pools: t.field({
      type: [PoolUsageRef],
      description: 'The concurrent pools that have seats or sessions; in demo mode one per seat product, counting the demo sessions.',
      resolve: (u) => u.snapshot.pools.map((pool) => ({ catalog: u.catalog, pool })),
    }),
  }),
});

export const OverageEpisodeRef = builder.objectRef<OverageEpisode>('OverageEpisode').implement({
  description: 'A stretch of time in which a pool had sessions beyond capacity and emergency (R-OVER-1).',
  fields: (t) => ({
    startedAt: t.field({ type: 'DateTime', description: 'When the first overage session started.', resolve: (e) => e.startedAt }),
    endedAt: t.field({
      type: 'DateTime',
      nullable: true,
      description: 'When the pool came back within capacity and emergency; null: still going on.',
      resolve: (e) => e.endedAt,
    }),
    peakExcess: t.exposeInt('peakExcess', { description: 'The most overage seats in use at once during the episode.' }),
    peakExcessInInterval: t.exposeInt('peakExcessInInterval', {
      description:
        'The most overage seats in use at once within the interval asked for: what that interval bills of the episode when it is billable. An episode crossing a month boundary is split at it, each month billing the peak of its own part (R-OVER-2).',
    }),
    billable: t.exposeBoolean('billable', {
      description: "False while an episode is shorter than the product's overage grace (30 minutes by default).",
    }),
  }),
});

const UsageRowRef = builder.objectRef<{ catalog: Catalog; row: UsageRow }>('UsageRow').implement({
  description: 'Metered use of one concurrent pool over an interval (R-METER-1).',
  fields: (t) => ({
    product: t.field({
      type: ProductRef,
      description: 'The concurrent product.',
      resolve: (u) => productOfCatalog(u.catalog, u.row.product),
    }),
    peakConcurrent: t.int({
      description: 'Most seats in use at once: regular + emergency + overage (R-METER-0).',
      resolve: (u) => u.row.peakConcurrent,
    }),
    emergencyPeak: t.int({ description: 'Most emergency seats in use at once (R-EMER-2).', resolve: (u) => u.row.emergencyPeak }),
    overageEpisodes: t.field({
      type: [OverageEpisodeRef],
      description: 'Overage episodes that overlap the interval, each reported whole, oldest first.',
      resolve: (u) => u.row.episodes,
    }),
    billableOverage: t.int({
      description:
        'Sum over billable episodes of their peak excess within the interval (peakExcessInInterval): an episode crossing the interval edge is billed by each interval for its own part (R-OVER-2).',
      resolve: (u) => u.row.billableOverage,
    }),
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
    args: {
      from: t.arg({ type: 'DateTime', required: true, description: 'Start of the interval (inclusive).' }),
      to: t.arg({ type: 'DateTime', required: true, description: 'End of the interval (exclusive): after from, at most 400 days later.' }),
    },
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
      product: t.field({
        type: ProductRef,
        description: 'The concurrent product whose pool changed.',
        resolve: (p) => productOfCatalog(p.catalog, p.product),
      }),
      at: t.field({ type: 'DateTime', description: 'When the pool took this value.', resolve: (p) => p.at }),
      inUse: t.exposeInt('inUse', { description: 'Seats in use from then on, every kind counted.' }),
    }),
  });

builder.objectFields(OrganizationRef, (t) => ({
  seatHistory: t.field({
    type: [SeatHistoryPointRef],
    description:
      'Every change of the pools in [from, to), oldest first, starting with the values in force at `from` (at most 10,000 points): the dashboard chart.',
    args: {
      from: t.arg({ type: 'DateTime', required: true, description: 'Start of the interval (inclusive).' }),
      to: t.arg({ type: 'DateTime', required: true, description: 'End of the interval (exclusive).' }),
    },
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
  description: 'Who logs in, with which channels.',
  fields: (t) => ({
    userId: t.id({ description: 'The user logging in; must be ACTIVE.' }),
    channels: t.stringList({
      required: false,
      description:
        'Channels the agent wants to handle (VOICE, EMAIL, WEBCHAT, SMS ...) and concurrent feature licences they want to use, by product code (CALL_RECORDING, REPORTING, CONFERENCE ...; R-FEAT-1).',
    }),
    deviceId: t.string({ required: false, description: 'The client device, at most 200 characters; shown on the session.' }),
  }),
});
const HeartbeatInput = builder.inputType('HeartbeatInput', {
  description: 'The session to renew.',
  fields: (t) => ({ sessionId: t.id({ description: 'The id startSession returned.' }) }),
});
const EndSessionInput = builder.inputType('EndSessionInput', {
  description: 'The session to end.',
  fields: (t) => ({ sessionId: t.id({ description: 'The id startSession returned.' }) }),
});

const StartSessionPayload = builder.objectRef<StartResult>('StartSessionPayload').implement({
  description: 'Result of startSession: a session, or a denial.',
  fields: (t) => ({
    granted: t.exposeBoolean('granted', { description: 'True when the user holds a session now.' }),
    session: t.field({ type: SessionRef, nullable: true, description: 'The open session; null when refused.', resolve: (r) => r.session }),
    denial: t.field({ type: DenialRef, nullable: true, description: 'Why it was refused; null when granted.', resolve: (r) => r.denial }),
    grantedChannels: t.exposeStringList('grantedChannels', { description: 'Requested channels the session is licensed for.' }),
    deniedChannels: t.field({
      type: [ChannelDenialRef],
      description: 'Requested channels refused, each with its reason (R-CHAN-1).',
      resolve: (r) => r.deniedChannels,
    }),
  }),
});
const HeartbeatPayload = builder.objectRef<{ session: Session }>('HeartbeatPayload').implement({
  description: 'Result of heartbeat.',
  fields: (t) => ({
    session: t.field({
      type: SessionRef,
      description: 'endedAt is set when the session had expired: start a new one.',
      resolve: (p) => p.session,
    }),
  }),
});
const EndSessionPayload = builder.objectRef<{ session: Session }>('EndSessionPayload').implement({
  description: 'Result of endSession.',
  fields: (t) => ({ session: t.field({ type: SessionRef, description: 'The session, ended.', resolve: (p) => p.session }) }),
});

builder.mutationFields((t) => ({
  startSession: t.field({
    type: StartSessionPayload,
    description:
      'Takes one seat of every concurrent seat product the user is eligible for, in one transaction (R-CONC-1); regular seats first, then emergency (R-EMER-1), then overage where allowed (R-OVER-1). A second start returns the open session. Refusals are data: granted false with a denial.',
    args: { input: t.arg({ type: StartSessionInput, required: true, description: 'User, channels and device.' }) },
    resolve: (_root, { input }, ctx) => startSession(ctx, input),
  }),
  heartbeat: t.field({
    type: HeartbeatPayload,
    description: 'Renews the session for SESSION_TTL_SECONDS (R-CONC-3).',
    args: { input: t.arg({ type: HeartbeatInput, required: true, description: 'The session to renew.' }) },
    resolve: async (_root, { input }, ctx) => ({ session: await heartbeat(ctx, input) }),
  }),
  endSession: t.field({
    type: EndSessionPayload,
    description: 'Ends the session and frees its seats.',
    args: { input: t.arg({ type: EndSessionInput, required: true, description: 'The session to end.' }) },
    resolve: async (_root, { input }, ctx) => ({ session: (await endSession(ctx, input)).session }),
  }),
}));

// ------------------------------------------------------------ who holds the seats now

type SessionConnectionShape = Connection<Session> & { totalCount: () => Promise<number> };

const SessionEdgeRef = builder.objectRef<SessionConnectionShape['edges'][number]>('SessionEdge').implement({
  description: 'One open session of a page, with the cursor to continue after it.',
  fields: (t) => ({
    cursor: t.exposeString('cursor', { description: 'Pass as `after` to get the sessions that follow this one.' }),
    node: t.field({ type: SessionRef, description: 'The session at this place of the page.', resolve: (e) => e.node }),
  }),
});

const SessionConnectionRef = builder.objectRef<SessionConnectionShape>('SessionConnection').implement({
  description: 'A page of open sessions, oldest first (R-API-3): who holds the seats now.',
  fields: (t) => ({
    edges: t.field({ type: [SessionEdgeRef], description: 'The sessions of this page.', resolve: (c) => c.edges }),
    pageInfo: t.field({
      type: PageInfoRef,
      description: 'Whether more sessions follow, and the cursor to ask for them.',
      resolve: (c) => c.pageInfo,
    }),
    totalCount: t.int({ description: 'Open sessions matching the filter, on all pages.', resolve: (c) => c.totalCount() }),
  }),
});

builder.objectFields(OrganizationRef, (t) => ({
  openSessions: t.field({
    type: SessionConnectionRef,
    description:
      'Who holds the seats now: the open sessions, oldest first; with `product`, those holding a seat or channel unit of that pool (R-MON-1).',
    args: {
      ...pageArgs(t.arg),
      product: t.arg.string({
        required: false,
        description: "A product code of the organization's catalog: a seat product (AGENT_SEAT) or a channel feature (EMAIL).",
      }),
    },
    resolve: async (org, args, ctx) => {
      const page = parsePage(args);
      if (args.product != null && !catalogOf(ctx, org).products.some((p) => p.code === args.product))
        throw badInput('product', `unknown product "${args.product}" in catalog ${org.catalog_code}`);
      const scope = { organizationId: org.id, product: args.product ?? null };
      return { ...toConnection(await pageOfOpenSessions(ctx.db, scope, page), page), totalCount: () => countOpenSessions(ctx.db, scope) };
    },
  }),
}));

builder.queryFields((t) => ({
  session: t.field({
    type: SessionRef,
    nullable: true,
    description: 'One session by id, open or ended; an unknown id, or one of another organization, is NOT_FOUND (R-SEC-2).',
    args: { id: t.arg.id({ required: true, description: 'Id of the session to read.' }) },
    resolve: async (_root, args, ctx) => {
      requireAuthenticated(ctx.viewer);
      const session = isId(args.id) ? await findSession(ctx.db, args.id, viewerOrganization(ctx.viewer)) : undefined;
      if (!session) throw notFound('session', args.id);
      authorize(ctx.viewer, session.organization_id, 'read', 'session', args.id);
      return session;
    },
  }),
}));

// ------------------------------------------------------------ usage per day

const UsageDayRef = builder.objectRef<{ catalog: Catalog; day: UsageDay }>('UsageDay').implement({
  description: 'Metered use of every pool over one calendar day (UTC), clipped to the interval asked for (R-METER-1).',
  fields: (t) => ({
    day: t.string({ description: 'The calendar day, YYYY-MM-DD (UTC).', resolve: (d) => d.day.day }),
    from: t.field({ type: 'DateTime', description: 'Start of the part of the day covered (inclusive).', resolve: (d) => d.day.from }),
    to: t.field({ type: 'DateTime', description: 'End of the part of the day covered (exclusive).', resolve: (d) => d.day.to }),
    rows: t.field({
      type: [UsageRowRef],
      description: 'The same rows as usage(from, to) for this day.',
      resolve: (d) => d.day.rows.map((row) => ({ catalog: d.catalog, row })),
    }),
  }),
});

builder.objectFields(OrganizationRef, (t) => ({
  usagePerDay: t.field({
    type: [UsageDayRef],
    description:
      'usage(from, to) broken down by calendar day (UTC), oldest first: one entry per day that [from, to) meets, each with the figures usage gives for that day (R-METER-1). A month is one call.',
    args: {
      from: t.arg({ type: 'DateTime', required: true, description: 'Start of the interval (inclusive).' }),
      to: t.arg({ type: 'DateTime', required: true, description: 'End of the interval (exclusive): after from, at most 400 days later.' }),
    },
    resolve: async (org, args, ctx) => {
      const catalog = catalogOf(ctx, org);
      return (await usagePerDay(ctx.db, org, catalog, args.from, args.to, ctx.clock.now())).map((day) => ({ catalog, day }));
    },
  }),
}));

// ------------------------------------------------------------ changing an open session's channels

const ChangeSessionChannelsInput = builder.inputType('ChangeSessionChannelsInput', {
  description: 'An open session and the channels it should hold from now on.',
  fields: (t) => ({
    sessionId: t.id({ description: 'The id startSession returned; the session must be open.' }),
    channels: t.stringList({
      description:
        'The whole new list of channels and concurrent features (VOICE, EMAIL, ...; at most 32): missing ones are dropped (their units freed), new ones are licensed as at the start (R-CHAN-1).',
    }),
  }),
});

const ChangeSessionChannelsPayload = builder.objectRef<ChannelChangeResult>('ChangeSessionChannelsPayload').implement({
  description: 'Result of changeSessionChannels: the session with its channels now, and what changed.',
  fields: (t) => ({
    session: t.field({ type: SessionRef, description: 'The session, with its channels after the change.', resolve: (r) => r.session }),
    addedChannels: t.exposeStringList('addedChannels', { description: 'Channels the session gained.' }),
    removedChannels: t.exposeStringList('removedChannels', { description: 'Channels the session gave up; their units are free.' }),
    deniedChannels: t.field({
      type: [ChannelDenialRef],
      description: 'Requested channels refused, each with its code (NO_SEAT_AVAILABLE when no unit is left; R-CHAN-1).',
      resolve: (r) => r.deniedChannels,
    }),
  }),
});

builder.mutationFields((t) => ({
  changeSessionChannels: t.field({
    type: ChangeSessionChannelsPayload,
    description:
      "Changes an open session's channels in one transaction: added channels take units exactly as at the start (emergency first, R-CHAN-1), dropped ones free theirs. Refusals are data (deniedChannels); an ended session is BAD_USER_INPUT.",
    args: { input: t.arg({ type: ChangeSessionChannelsInput, required: true, description: 'The session and its new channels.' }) },
    resolve: (_root, { input }, ctx) => changeSessionChannels(ctx, input),
  }),
}));
