import { builder } from '../schema/builder.ts';
import type { Organization } from './domain.ts';
import { pageArgs } from '../schema/args.ts';
import { type Connection, parsePage, toConnection } from '../schema/pagination.ts';
import { CatalogRef, OrganizationRef, PageInfoRef, SiteRef, TeamRef, UserConnectionRef, NodeRef } from '../schema/refs.ts';
import * as repo from './tenancy.repository.ts';
import * as access from './access.ts';
import * as service from './tenancy.service.ts';
import { usersConnection } from './user.schema.ts';

OrganizationRef.implement({
  interfaces: [NodeRef],
  description: 'A customer of the platform: its sites, teams, users, licence and usage. Every tenant object belongs to one.',
  fields: (t) => ({
    id: t.exposeID('id', { description: 'The organization id (AGENT_CLIENT tokens may read it).' }),
    name: t.exposeString('name', { description: 'Display name, 1..200 characters.' }),
    customerRef: t.exposeString('customer_ref', {
      nullable: true,
      description:
        "The vendor's customer reference that licence keys must carry (R-KEY-3); null until given or bound by the first activated key.",
    }),
    catalog: t.field({
      type: CatalogRef,
      description: 'The product catalog the organization licenses from, fixed at creation.',
      resolve: (o, _a, ctx) => access.catalogOf(ctx, o),
    }),
    sites: t.field({
      type: [SiteRef],
      description: 'Every site, by name (at most 500 per organization, R-SEC-3).',
      resolve: (o, _a, ctx) => repo.sitesOfOrganization(ctx.db, o.id),
    }),
    teams: t.field({
      type: [TeamRef],
      description: 'Every team, by name (at most 500 per organization, R-SEC-3).',
      resolve: (o, _a, ctx) => repo.teamsOfOrganization(ctx.db, o.id),
    }),
    activeUsers: t.int({
      description: 'Users with status ACTIVE now (R-TEN-1).',
      resolve: (o, _a, ctx) => repo.countActiveUsers(ctx.db, o.id),
    }),
    activeUsersInBillingPeriod: t.int({
      description: 'Users that were ACTIVE at any moment of the current billing period (calendar month, UTC) (R-TEN-2).',
      resolve: (o, _a, ctx) => service.activeUsersInBillingPeriod(ctx, o.id),
    }),
    users: t.field({
      type: UserConnectionRef,
      description: "The organization's users, oldest first, a page at a time (R-API-3).",
      args: {
        ...pageArgs(t.arg),
        hasWarnings: t.arg.boolean({ required: false, description: 'Only users with (true) or without (false) licence warnings.' }),
      },
      resolve: (o, args, ctx) => usersConnection(ctx, { organizationId: o.id }, args),
    }),
  }),
});

const OrganizationFilter = builder.inputType('OrganizationFilter', {
  description: 'Narrows Query.organizations.',
  fields: (t) => ({
    name: t.string({
      required: false,
      description: 'Only organizations whose name contains this text (case-insensitive, at most 200 characters).',
    }),
  }),
});

const OrganizationEdgeRef = builder.objectRef<Connection<Organization>['edges'][number]>('OrganizationEdge').implement({
  description: 'One organization of a page, with the cursor to continue after it.',
  fields: (t) => ({
    cursor: t.exposeString('cursor', { description: 'Pass as `after` to get the organizations that follow this one.' }),
    node: t.field({ type: OrganizationRef, description: 'The organization at this place of the page.', resolve: (e) => e.node }),
  }),
});

const OrganizationConnectionRef = builder.objectRef<Connection<Organization>>('OrganizationConnection').implement({
  description: 'A page of organizations, oldest first.',
  fields: (t) => ({
    edges: t.field({ type: [OrganizationEdgeRef], description: 'The organizations of this page.', resolve: (c) => c.edges }),
    pageInfo: t.field({
      type: PageInfoRef,
      description: 'Whether more organizations follow, and the cursor to ask for them.',
      resolve: (c) => c.pageInfo,
    }),
  }),
});

builder.queryFields((t) => ({
  organization: t.field({
    type: OrganizationRef,
    nullable: true,
    description:
      'One organization by id: the operator any, other tokens their own; an unknown id, or one of another organization, is NOT_FOUND (R-SEC-2).',
    args: { id: t.arg.id({ required: true, description: 'Id of the organization to read.' }) },
    resolve: (_root, args, ctx) => access.getOrganization(ctx, args.id),
  }),
  organizations: t.field({
    type: OrganizationConnectionRef,
    description: "Every organization, oldest first, a page at a time (the dashboard's picker): the platform operator only.",
    args: {
      ...pageArgs(t.arg),
      filter: t.arg({ type: OrganizationFilter, required: false, description: 'Optional narrowing; none: every organization.' }),
    },
    resolve: async (_root, args, ctx) => {
      const page = parsePage(args);
      return toConnection(await service.listOrganizations(ctx, page, args.filter?.name), page);
    },
  }),
}));

const CreateOrganizationInput = builder.inputType('CreateOrganizationInput', {
  description: 'A new organization.',
  fields: (t) => ({
    name: t.string({ description: 'Display name, 1..200 characters, no control characters.' }),
    catalog: t.string({ description: 'Catalog code, e.g. innoacd, xphone-connect, zoom-contact-center, connect-storm.' }),
    customerRef: t.string({ required: false, description: "The vendor's customer reference; licence keys must carry the same." }),
  }),
});

const CreateOrganizationPayload = builder.objectRef<{ organization: Organization }>('CreateOrganizationPayload').implement({
  description: 'Result of createOrganization.',
  fields: (t) => ({
    organization: t.field({ type: OrganizationRef, description: 'The organization created.', resolve: (p) => p.organization }),
  }),
});

builder.mutationFields((t) => ({
  createOrganization: t.field({
    type: CreateOrganizationPayload,
    description: 'Creates an organization on one catalog, with no licence key yet (demo mode). Platform operator only (OPERATOR_TOKEN).',
    args: { input: t.arg({ type: CreateOrganizationInput, required: true, description: 'Name, catalog and customer reference.' }) },
    resolve: async (_root, { input }, ctx) => ({ organization: await service.createOrganization(ctx, input) }),
  }),
}));
