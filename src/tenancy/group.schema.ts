import { builder } from '../schema/builder.ts';
import type { ConfigurationGroup } from './domain.ts';
import { pageArgs } from '../schema/args.ts';
import { must } from '../schema/loaders.ts';
import { ConfigurationGroupRef, ProductRef, productOfCatalog, SiteRef, UserConnectionRef } from '../schema/refs.ts';
import * as access from './access.ts';
import * as service from './tenancy.service.ts';
import { usersConnection } from './user.schema.ts';

ConfigurationGroupRef.implement({
  fields: (t) => ({
    id: t.exposeID('id'),
    name: t.exposeString('name'),
    site: t.field({ type: SiteRef, resolve: (g, _a, ctx) => must(ctx.loaders.site, g.site_id, 'site') }),
    functions: t.field({
      type: [ProductRef],
      description: 'Products whose function is enabled for every member.',
      resolve: async (g, _a, ctx) => {
        const org = await must(ctx.loaders.organization, g.organization_id, 'organization');
        const catalog = access.catalogOf(ctx, org);
        return g.functions.map((code) => productOfCatalog(catalog, code));
      },
    }),
    options: t.exposeStringList('options', {
      description: 'Options such as "client" or "mobileApp" that switch conditional requirements on.',
    }),
    users: t.field({
      type: UserConnectionRef,
      args: pageArgs(t.arg),
      resolve: (g, args, ctx) => usersConnection(ctx, { organizationId: g.organization_id, configurationGroupId: g.id }, args),
    }),
  }),
});

const CreateConfigurationGroupInput = builder.inputType('CreateConfigurationGroupInput', {
  fields: (t) => ({
    siteId: t.id(),
    name: t.string(),
    functions: t.stringList({ description: "Product codes of the organization's catalog." }),
    options: t.stringList({ required: false }),
  }),
});

const CreateConfigurationGroupPayload = builder
  .objectRef<{ configurationGroup: ConfigurationGroup }>('CreateConfigurationGroupPayload')
  .implement({ fields: (t) => ({ configurationGroup: t.field({ type: ConfigurationGroupRef, resolve: (p) => p.configurationGroup }) }) });

builder.mutationFields((t) => ({
  createConfigurationGroup: t.field({
    type: CreateConfigurationGroupPayload,
    args: { input: t.arg({ type: CreateConfigurationGroupInput, required: true }) },
    resolve: async (_root, { input }, ctx) => ({ configurationGroup: await service.createConfigurationGroup(ctx, input) }),
  }),
}));
