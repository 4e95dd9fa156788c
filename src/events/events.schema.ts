import type { DenialCode } from '../licensing/session-plan.ts';
import { builder } from '../schema/builder.ts';
import { pageArgs } from '../schema/args.ts';
import { NodeRef, PageInfoRef, OrganizationRef, ProductRef, productOfCatalog, UserRef } from '../schema/refs.ts';
import { parsePage, toConnection, type Connection } from '../schema/pagination.ts';

type EventConnectionShape = Connection<LicenseEvent> & { totalCount: () => Promise<number> };
import { catalogOf } from '../tenancy/access.ts';
import { DenialCodeEnum } from '../sessions/sessions.schema.ts';
import type { EventType, LicenseEvent } from './event.ts';
import { countEvents, type EventFilter, pageOfEvents } from './events.repository.ts';
import { badInput } from '../errors.ts';
import { isId } from '../ids.ts';

const EVENT_TYPE_COUNT = 64;

const EventTypeEnum = builder.enumType('EventType', {
  description: 'What an entry of the event log records.',
  values: {
    ORGANIZATION_CREATED: { description: 'The organization was created (detail: its catalog).' },
    USER_CREATED: { description: 'A user was created (detail: name, role, status).' },
    USER_STATUS_CHANGED: { description: "A user's status changed (detail: old -> new)." },
    USER_DELETED: { description: 'A user was deleted (detail: the name); userId keeps the reference.' },
    USERS_MOVED: { description: 'Users were moved into a configuration group (detail: how many, to which group).' },
    CONFIGURATION_GROUP_CHANGED: { description: "A configuration group's functions or options were changed." },
    LICENSE_GRANTED: { description: 'A user now holds a licence of the product (R-UNDER-3: also when one frees up).' },
    LICENSE_REVOKED: { description: 'A user no longer holds a licence of the product (detail: why).' },
    KEY_ACTIVATED: { description: 'A licence key was activated (detail: key id, catalog, customer reference, term).' },
    STATE_CHANGED: { description: 'The licence state changed (detail: old -> new).' },
    API_TOKEN_CREATED: { description: 'An API token was created (detail: role, label, id).' },
    API_TOKEN_REVOKED: { description: 'An API token was revoked (detail: its id).' },
    SESSION_STARTED: { description: 'A session started (detail: the seats taken and channels).' },
    SESSION_ENDED: { description: 'A session ended by its client or because its user was deleted or left ACTIVE.' },
    SESSION_EXPIRED: { description: 'A session expired without heartbeat and freed its seats (R-CONC-3).' },
    SESSION_DENIED: {
      description:
        'A session start was refused (denialCode says why; product is the full pool where there is one). At most one per user and code per DENIAL_EVENT_INTERVAL_SECONDS and instance.',
    },
    SESSION_CHANNELS_CHANGED: {
      description:
        'The channels of an open session changed (changeSessionChannels; detail: the units taken with their kind, the channels removed, the channels now held and any denied).',
    },
    WEBHOOK_ENDPOINT_CREATED: { description: 'A webhook endpoint was created (detail: its id and URL).' },
    WEBHOOK_ENDPOINT_UPDATED: { description: 'A webhook endpoint was changed (URL, event types, enabled).' },
    WEBHOOK_ENDPOINT_DELETED: { description: 'A webhook endpoint was deleted, with its messages and delivery log.' },
    WEBHOOK_SECRET_ROTATED: {
      description: "A webhook endpoint's secret was rotated (detail: its id); the old secret keeps signing for a while.",
    },
    WEBHOOK_MESSAGE_REDELIVERED: { description: 'A webhook message was queued again for delivery (same webhook-id).' },
    WEBHOOK_ENDPOINT_DISABLED: {
      description: 'A webhook endpoint was disabled: a message could not be delivered within WEBHOOK_RETRY_SECONDS.',
    },
    USER_SECURITY_KEY_CHANGED: {
      description: "A user's hardware security key was recorded as enrolled or removed (detail: enrolled or removed; R-2FA-2).",
    },
  } satisfies Record<EventType, unknown>,
});

export const LicenseEventRef = builder.objectRef<LicenseEvent>('LicenseEvent').implement({
  interfaces: [NodeRef],
  description: 'An entry of the append-only event log (R-EVENT-1): who changed what, when, with which token.',
  fields: (t) => ({
    id: t.exposeID('id', { description: 'The event id; ids sort by time.' }),
    at: t.field({ type: 'DateTime', description: 'When it happened.', resolve: (e) => e.at }),
    type: t.field({
      type: EventTypeEnum,
      description:
        'SESSION_STARTED, SESSION_ENDED, SESSION_EXPIRED, SESSION_DENIED, LICENSE_GRANTED, LICENSE_REVOKED, KEY_ACTIVATED, STATE_CHANGED ...',
      resolve: (e) => e.type,
    }),
    user: t.field({
      type: UserRef,
      nullable: true,
      description: 'Null when the user has been deleted since (userId keeps the reference).',
      resolve: async (e, _a, ctx) => (e.user_id ? ((await ctx.loaders.user.load(e.user_id)) ?? null) : null),
    }),
    userId: t.id({ nullable: true, description: 'The user concerned, also after deletion; null: no user.', resolve: (e) => e.user_id }),
    product: t.field({
      type: ProductRef,
      nullable: true,
      description: "The product concerned; null: none, or not in the organization's catalog.",
      resolve: async (e, _a, ctx) => {
        if (!e.product_code) return null;
        const org = await ctx.loaders.organization.load(e.organization_id);
        const catalog = org ? catalogOf(ctx, org) : undefined;
        return catalog?.products.some((p) => p.code === e.product_code) ? productOfCatalog(catalog, e.product_code) : null;
      },
    }),
    detail: t.exposeString('detail', { nullable: true, description: 'What changed, in words; null: nothing to add.' }),
    denialCode: t.field({
      type: DenialCodeEnum,
      nullable: true,
      description:
        'SESSION_DENIED only: why the start was refused (the code StartSessionPayload.denial gave); null for every other type. detail repeats it with the message.',
      resolve: (e) => (e.denial_code as DenialCode | null) ?? null,
    }),
    actor: t.exposeString('actor', { description: 'operator, token:<apiTokenId> or system.' }),
    apiTokenId: t.exposeID('api_token_id', {
      nullable: true,
      description: 'The API token that made the change; null: the operator or the system.',
    }),
  }),
});

const LicenseEventEdgeRef = builder.objectRef<Connection<LicenseEvent>['edges'][number]>('LicenseEventEdge').implement({
  description: 'One event of a page, with the cursor to continue after it.',
  fields: (t) => ({
    cursor: t.exposeString('cursor', { description: 'Pass as `after` to get the events that follow this one.' }),
    node: t.field({ type: LicenseEventRef, description: 'The event at this place of the page.', resolve: (e) => e.node }),
  }),
});

const LicenseEventConnectionRef = builder.objectRef<EventConnectionShape>('LicenseEventConnection').implement({
  description: 'A page of the event log, newest first (R-API-3).',
  fields: (t) => ({
    edges: t.field({ type: [LicenseEventEdgeRef], description: 'The events of this page.', resolve: (c) => c.edges }),
    pageInfo: t.field({
      type: PageInfoRef,
      description: 'Whether older events follow, and the cursor to ask for them.',
      resolve: (c) => c.pageInfo,
    }),
    totalCount: t.int({ description: 'Events matching the filters, on all pages.', resolve: (c) => c.totalCount() }),
  }),
});

builder.objectFields(OrganizationRef, (t) => ({
  events: t.field({
    type: LicenseEventConnectionRef,
    description:
      'The append-only event log, newest first (R-EVENT-1); the filters combine (all must match) and the cursor pages through the filtered log.',
    args: {
      ...pageArgs(t.arg),
      types: t.arg({ type: [EventTypeEnum], required: false, description: 'Only events of these types; absent or empty: every type.' }),
      userId: t.arg.id({ required: false, description: 'Only events concerning this user (also one deleted since).' }),
      product: t.arg.string({ required: false, description: 'Only events concerning this product code.' }),
      from: t.arg({ type: 'DateTime', required: false, description: 'Only events at or after this instant.' }),
      to: t.arg({ type: 'DateTime', required: false, description: 'Only events before this instant (exclusive).' }),
    },
    resolve: async (org, args, ctx) => {
      const page = parsePage(args);
      if (args.types && args.types.length > EVENT_TYPE_COUNT) throw badInput('types', `at most ${EVENT_TYPE_COUNT} types`);
      if (args.from && args.to && args.to.getTime() <= args.from.getTime()) throw badInput('to', 'must be later than from');
      // An id that cannot exist matches nothing (no query needed, but the same empty answer as an unknown user).
      const filter: EventFilter = {
        types: args.types ?? null,
        userId: args.userId ?? null,
        productCode: args.product ?? null,
        from: args.from ?? null,
        to: args.to ?? null,
      };
      if (filter.userId != null && !isId(filter.userId)) {
        return {
          edges: [],
          pageInfo: { hasNextPage: false, hasPreviousPage: false, startCursor: null, endCursor: null },
          totalCount: async () => 0,
        };
      }
      return {
        ...toConnection(await pageOfEvents(ctx.db, org.id, page, filter), page),
        totalCount: () => countEvents(ctx.db, org.id, filter),
      };
    },
  }),
}));
