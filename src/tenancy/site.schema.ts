import { builder } from '../schema/builder.ts';
import type { Site } from './domain.ts';
import { pageArgs } from '../schema/args.ts';
import { must } from '../schema/loaders.ts';
import { ConfigurationGroupRef, OrganizationRef, SiteRef, UserConnectionRef, NodeRef } from '../schema/refs.ts';
import * as access from './access.ts';
import * as service from './tenancy.service.ts';
import { usersConnection } from './user.schema.ts';

SiteRef.implement({
  interfaces: [NodeRef],
  description: 'A location of an organization; holds configuration groups and users.',
  fields: (t) => ({
    id: t.exposeID('id', { description: 'Opaque id of the site; ids sort by creation.' }),
    name: t.exposeString('name', { description: 'Display name, unique within the organization.' }),
    organization: t.field({
      type: OrganizationRef,
      description: 'The organization the site belongs to.',
      resolve: (s, _a, ctx) => must(ctx.loaders.organization, s.organization_id, 'organization'),
    }),
    configurationGroups: t.field({
      type: [ConfigurationGroupRef],
      description: "The site's configuration groups, by name.",
      resolve: (s, _a, ctx) => ctx.loaders.groupsOfSite.load(s.id),
    }),
    users: t.field({
      type: UserConnectionRef,
      description: "The site's users, oldest first, a page at a time (R-API-3).",
      args: {
        ...pageArgs(t.arg),
        hasWarnings: t.arg.boolean({ required: false, description: 'Only users with (true) or without (false) licence warnings.' }),
      },
      resolve: (s, args, ctx) => usersConnection(ctx, { organizationId: s.organization_id, siteId: s.id }, args),
    }),
  }),
});

builder.queryFields((t) => ({
  site: t.field({
    type: SiteRef,
    nullable: true,
    description: 'One site by id; an unknown id, or one of another organization, is NOT_FOUND (R-SEC-2).',
    args: { id: t.arg.id({ required: true, description: 'Id of the site to read.' }) },
    resolve: (_root, args, ctx) => access.getSite(ctx, args.id),
  }),
}));

const CreateSiteInput = builder.inputType('CreateSiteInput', {
  description: 'A new site.',
  fields: (t) => ({
    organizationId: t.id({ description: 'The organization to add the site to.' }),
    name: t.string({ description: 'Display name, 1..200 characters, unique within the organization.' }),
  }),
});

const CreateSitePayload = builder.objectRef<{ site: Site }>('CreateSitePayload').implement({
  description: 'Result of createSite.',
  fields: (t) => ({ site: t.field({ type: SiteRef, description: 'The site created.', resolve: (p) => p.site }) }),
});

builder.mutationFields((t) => ({
  createSite: t.field({
    type: CreateSitePayload,
    description: 'Adds a site to an organization (at most 500 per organization, R-SEC-3).',
    args: { input: t.arg({ type: CreateSiteInput, required: true, description: 'Organization and name.' }) },
    resolve: async (_root, { input }, ctx) => ({ site: await service.createSite(ctx, input) }),
  }),
}));
