import { builder } from '../schema/builder.ts';
import { pageArgs } from '../schema/args.ts';
import { PageInfoRef, OrganizationRef, ProductRef, productOfCatalog, UserRef } from '../schema/refs.ts';
import { parsePage, toConnection, type Connection } from '../schema/pagination.ts';
import { catalogOf } from '../tenancy/access.ts';
import { EVENT_TYPES, type LicenseEvent } from './event.ts';
import { pageOfEvents } from './events.repository.ts';

const EventTypeEnum = builder.enumType('EventType', { description: 'What an entry of the event log records.', values: EVENT_TYPES });

export const LicenseEventRef = builder.objectRef<LicenseEvent>('LicenseEvent').implement({
  fields: (t) => ({
    id: t.exposeID('id'),
    at: t.field({ type: 'DateTime', resolve: (e) => e.at }),
    type: t.field({
      type: EventTypeEnum,
      description: 'SESSION_STARTED, SESSION_ENDED, SESSION_EXPIRED, LICENSE_GRANTED, LICENSE_REVOKED, KEY_ACTIVATED, STATE_CHANGED ...',
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
