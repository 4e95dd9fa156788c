import { builder } from '../schema/builder.ts';
import type { ConfigurationGroup } from './domain.ts';
import { pageArgs } from '../schema/args.ts';
import { must } from '../schema/loaders.ts';
import { ConfigurationGroupRef, ProductRef, productOfCatalog, SiteRef, UserConnectionRef, NodeRef } from '../schema/refs.ts';
import * as access from './access.ts';
import * as service from './tenancy.service.ts';
import { usersConnection } from './user.schema.ts';

ConfigurationGroupRef.implement({
  interfaces: [NodeRef],
  description: 'A set of functions and options at one site; its functions assign their products to every member (R-NAMED-1).',
  fields: (t) => ({
    id: t.exposeID('id', { description: 'Opaque id of the group; ids sort by creation.' }),
    name: t.exposeString('name', { description: 'Display name, unique within the site.' }),
    site: t.field({
      type: SiteRef,
      description: 'The site the group belongs to.',
      resolve: (g, _a, ctx) => must(ctx.loaders.site, g.site_id, 'site'),
    }),
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
      description: "The group's members, oldest first, a page at a time (R-API-3).",
      args: pageArgs(t.arg),
      resolve: (g, args, ctx) => usersConnection(ctx, { organizationId: g.organization_id, configurationGroupId: g.id }, args),
    }),
  }),
});

const CreateConfigurationGroupInput = builder.inputType('CreateConfigurationGroupInput', {
  description: 'A new configuration group.',
  fields: (t) => ({
    siteId: t.id({ description: 'The site to add the group to.' }),
    name: t.string({ description: 'Display name, 1..200 characters, unique within the site.' }),
    functions: t.stringList({ description: "Product codes of the organization's catalog." }),
    options: t.stringList({
      required: false,
      description: 'Options of the catalog to switch on (e.g. client, mobileApp); none by default.',
    }),
  }),
});

const CreateConfigurationGroupPayload = builder
  .objectRef<{ configurationGroup: ConfigurationGroup }>('CreateConfigurationGroupPayload')
  .implement({
    description: 'Result of createConfigurationGroup.',
    fields: (t) => ({
      configurationGroup: t.field({ type: ConfigurationGroupRef, description: 'The group created.', resolve: (p) => p.configurationGroup }),
    }),
  });

builder.mutationFields((t) => ({
  createConfigurationGroup: t.field({
    type: CreateConfigurationGroupPayload,
    description: 'Adds a configuration group to a site; functions must be user products of the catalog, options ones it knows.',
    args: { input: t.arg({ type: CreateConfigurationGroupInput, required: true, description: 'Site, name, functions and options.' }) },
    resolve: async (_root, { input }, ctx) => ({ configurationGroup: await service.createConfigurationGroup(ctx, input) }),
  }),
}));
