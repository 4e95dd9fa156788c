import { builder } from '../schema/builder.ts';
import type { Site } from './domain.ts';
import { pageArgs } from '../schema/args.ts';
import { must } from '../schema/loaders.ts';
import { ConfigurationGroupRef, OrganizationRef, SiteRef, UserConnectionRef } from '../schema/refs.ts';
import * as access from './access.ts';
import * as service from './tenancy.service.ts';
import { usersConnection } from './user.schema.ts';

SiteRef.implement({
  fields: (t) => ({
    id: t.exposeID('id'),
    name: t.exposeString('name'),
    organization: t.field({
      type: OrganizationRef,
      resolve: (s, _a, ctx) => must(ctx.loaders.organization, s.organization_id, 'organization'),
    }),
    configurationGroups: t.field({ type: [ConfigurationGroupRef], resolve: (s, _a, ctx) => ctx.loaders.groupsOfSite.load(s.id) }),
    users: t.field({
      type: UserConnectionRef,
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
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => access.getSite(ctx, args.id),
  }),
}));

const CreateSiteInput = builder.inputType('CreateSiteInput', {
  fields: (t) => ({ organizationId: t.id(), name: t.string() }),
});

const CreateSitePayload = builder.objectRef<{ site: Site }>('CreateSitePayload').implement({
  fields: (t) => ({ site: t.field({ type: SiteRef, resolve: (p) => p.site }) }),
});

builder.mutationFields((t) => ({
  createSite: t.field({
    type: CreateSitePayload,
    args: { input: t.arg({ type: CreateSiteInput, required: true }) },
    resolve: async (_root, { input }, ctx) => ({ site: await service.createSite(ctx, input) }),
  }),
}));
