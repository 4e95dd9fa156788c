import type { DenialCode } from '../licensing/session-plan.ts';
import { builder } from '../schema/builder.ts';
import { pageArgs } from '../schema/args.ts';
import { PageInfoRef, OrganizationRef, ProductRef, productOfCatalog, UserRef } from '../schema/refs.ts';
import { parsePage, toConnection, type Connection } from '../schema/pagination.ts';
import { catalogOf } from '../tenancy/access.ts';
import { DenialCodeEnum } from '../sessions/sessions.schema.ts';
import type { EventType, LicenseEvent } from './event.ts';
import { pageOfEvents } from './events.repository.ts';

const EventTypeEnum = builder.enumType('EventType', {
  description: 'What an entry of the event log records.',
  values: {
    ORGANIZATION_CREATED: { description: 'The organization was created.' },
    USER_CREATED: { description: 'A user was created.' },
    USER_STATUS_CHANGED: { description: "A user's status changed (detail: from and to)." },
    USER_DELETED: { description: 'A user was deleted.' },
    USERS_MOVED: { description: 'Users moved to another configuration group.' },
    CONFIGURATION_GROUP_CHANGED: { description: 'A configuration group was created or changed.' },
    LICENSE_GRANTED: { description: 'A user received a licence of the product.' },
    LICENSE_REVOKED: { description: 'A user lost a licence of the product.' },
    KEY_ACTIVATED: { description: 'A licence key was activated.' },
    STATE_CHANGED: { description: "The organization's licence state changed." },
    API_TOKEN_CREATED: { description: 'An API token was issued.' },
    API_TOKEN_REVOKED: { description: 'An API token was revoked.' },
    SESSION_STARTED: { description: 'A session started (detail: the seats and channels taken).' },
    SESSION_ENDED: { description: 'A session ended.' },
    SESSION_EXPIRED: { description: 'A session expired for want of a heartbeat.' },
    SESSION_DENIED: {
      description:
        'A session start was refused (denialCode says why; product is the full pool where there is one). At most one per user and code per DENIAL_EVENT_INTERVAL_SECONDS and instance.',
    },
  } satisfies Record<EventType, unknown>,
});

export const LicenseEventRef = builder.objectRef<LicenseEvent>('LicenseEvent').implement({
  fields: (t) => ({
    id: t.exposeID('id'),
    at: t.field({ type: 'DateTime', resolve: (e) => e.at }),
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
    userId: t.id({ nullable: true, resolve: (e) => e.user_id }),
    product: t.field({
      type: ProductRef,
      nullable: true,
      resolve: async (e, _a, ctx) => {
        if (!e.product_code) return null;
        const org = await ctx.loaders.organization.load(e.organization_id);
        const catalog = org ? catalogOf(ctx, org) : undefined;
        return catalog?.products.some((p) => p.code === e.product_code) ? productOfCatalog(catalog, e.product_code) : null;
      },
    }),
    detail: t.exposeString('detail', { nullable: true }),
    denialCode: t.field({
      type: DenialCodeEnum,
      nullable: true,
      description:
        'SESSION_DENIED only: why the start was refused (the code StartSessionPayload.denial gave); null for every other type. detail repeats it with the message.',
      resolve: (e) => (e.denial_code as DenialCode | null) ?? null,
    }),
    actor: t.exposeString('actor', { description: 'operator, token:<apiTokenId> or system.' }),
    apiTokenId: t.exposeID('api_token_id', { nullable: true }),
  }),
});

const LicenseEventEdgeRef = builder.objectRef<Connection<LicenseEvent>['edges'][number]>('LicenseEventEdge').implement({
  fields: (t) => ({ cursor: t.exposeString('cursor'), node: t.field({ type: LicenseEventRef, resolve: (e) => e.node }) }),
});

const LicenseEventConnectionRef = builder.objectRef<Connection<LicenseEvent>>('LicenseEventConnection').implement({
  fields: (t) => ({
    edges: t.field({ type: [LicenseEventEdgeRef], resolve: (c) => c.edges }),
    pageInfo: t.field({ type: PageInfoRef, resolve: (c) => c.pageInfo }),
  }),
});

builder.objectFields(OrganizationRef, (t) => ({
  events: t.field({
    type: LicenseEventConnectionRef,
    description: 'The append-only event log, newest first (R-EVENT-1).',
    args: pageArgs(t.arg),
    resolve: async (org, args, ctx) => {
      const page = parsePage(args);
      return toConnection(await pageOfEvents(ctx.db, org.id, page), page);
    },
  }),
}));
