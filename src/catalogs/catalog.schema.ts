import { builder } from '../schema/builder.ts';
import { CatalogRef, ProductRef, productOfCatalog, type CatalogProduct } from '../schema/refs.ts';
import type { ALLOCATIONS, PRODUCT_KINDS, ProductSetting, REQUIREMENT_SCOPES, Requirement } from './types.ts';

export const ProductKindEnum = builder.enumType('ProductKind', {
  description: 'How a product is licensed: per user, per installation, as a user feature or as an add-on.',
  values: {
    USER: { description: 'Licensed per user (Office, ACD agent, Zoom tiers, base licence).' },
    SYSTEM: { description: 'Licensed per installation or organization (Server, IP channel, Auto Attendant).' },
    FEATURE: { description: 'A function or channel enabled for a named user (SMS, e-mail, PADLOCK, CTI).' },
    ADDON: { description: 'An optional extra bought on top of a user licence or for the whole account.' },
  } satisfies Record<(typeof PRODUCT_KINDS)[number], unknown>,
});

export const AllocationEnum = builder.enumType('Allocation', {
  description: 'How licences of a product are held: by named users, by open sessions, by one fixed user or by the account.',
  values: {
    NAMED: { description: 'Held by a user from assignment on, whether or not the user logs in.' },
    CONCURRENT: { description: "Held only while one of the user's sessions is open; shared by a pool." },
    FIXED_SEAT: { description: 'Bound to exactly one named user; nobody else may use it.' },
    ACCOUNT: { description: 'Held by the organization as a whole; never assigned to users.' },
  } satisfies Record<(typeof ALLOCATIONS)[number], unknown>,
});

const RequirementScopeEnum = builder.enumType('RequirementScope', {
  description: 'Where a prerequisite must be met (R-NAMED-3).',
  values: {
    USER: { description: 'The same user must hold one of the products.' },
    ORGANIZATION: { description: 'The organization must be entitled to at least minQuantity of them.' },
  } satisfies Record<(typeof REQUIREMENT_SCOPES)[number], unknown>,
});

const RequirementRef = builder.objectRef<{ owner: CatalogProduct; requirement: Requirement }>('Requirement').implement({
  description: 'A prerequisite of a product: one of anyOf must be held by the user or bought by the organization (R-NAMED-3).',
  fields: (t) => ({
    scope: t.field({
      type: RequirementScopeEnum,
      description: 'USER: checked per user; ORGANIZATION: checked against what the organization bought.',
      resolve: (r) => r.requirement.scope,
    }),
    anyOf: t.field({
      type: [ProductRef],
      description: 'One of these suffices.',
      resolve: (r) => r.requirement.anyOf.map((code) => productOfCatalog(r.owner.catalog, code)),
    }),
    minQuantity: t.int({
      description: 'For ORGANIZATION scope: how many licences of anyOf must be bought (e.g. 2 IP_CHANNEL); 1 by default.',
      resolve: (r) => r.requirement.minQuantity,
    }),
    condition: t.string({
      nullable: true,
      description: 'Null: always required. Otherwise the option (e.g. "client", "mobileApp") that makes it required.',
      resolve: (r) => r.requirement.condition,
    }),
  }),
});

const ProductSettingRef = builder.objectRef<ProductSetting>('ProductSetting').implement({
  description:
    'A personal setting a function keeps per user (voicemail box, fax reception …, R-CAT-3): set with setUserSetting, deleted with the function (R-NAMED-4).',
  fields: (t) => ({
    name: t.exposeString('name', { description: 'The name setUserSetting(input: { name }) takes, e.g. voicemailBox.' }),
    description: t.exposeString('description', { description: 'What the setting holds.' }),
  }),
});

ProductRef.implement({
  description: 'A licensable product of a catalog, with its kind, allocation, units and prerequisites.',
  fields: (t) => ({
    code: t.string({
      description: 'The product code, unique within its catalog (e.g. OFFICE_PLUS, ACD_AGENT).',
      resolve: (p) => p.product.code,
    }),
    name: t.string({ description: 'Display name of the product.', resolve: (p) => p.product.name }),
    kind: t.field({ type: ProductKindEnum, description: 'How the product is licensed.', resolve: (p) => p.product.kind }),
    allocation: t.field({
      type: AllocationEnum,
      description: 'The allocation this product has unless a licence key sets another.',
      resolve: (p) => p.product.allocation,
    }),
    allocationChoices: t.field({
      type: [AllocationEnum],
      description: 'Allocations a licence key may choose for this product (Zoom tiers: NAMED or CONCURRENT).',
      resolve: (p) => p.product.allocationChoices,
    }),
    unit: t.string({
      nullable: true,
      description: 'What one licence unlocks, e.g. CHANNEL or DATA_SOURCE; null for plain seats.',
      resolve: (p) => p.product.unit,
    }),
    unitsPerLicense: t.int({
      description: 'Units one licence unlocks (e.g. 20 channels per Auto Attendant); 1 for plain seats.',
      resolve: (p) => p.product.unitsPerLicense,
    }),
    channel: t.string({
      nullable: true,
      description: 'For channel features (VOICE, EMAIL, WEBCHAT, SMS ...): the channel it licenses.',
      resolve: (p) => p.product.channel,
    }),
    includes: t.field({
      type: [ProductRef],
      description: 'Products that one licence of this one also provides (Office Plus includes Office).',
      resolve: (p) => p.product.includes.map((i) => productOfCatalog(p.catalog, i.product)),
    }),
    requirements: t.field({
      type: [RequirementRef],
      description: 'Prerequisites that must be met for this product to be granted (R-NAMED-3); empty: none.',
      resolve: (p) => p.product.requirements.map((requirement) => ({ owner: p, requirement })),
    }),
    description: t.string({
      nullable: true,
      description: "The catalog's description of the product; null when it has none.",
      resolve: (p) => p.product.description,
    }),
    whenExhausted: t.string({
      description: 'REFUSE: assignment beyond the bought count is refused; QUEUE: it is recorded, ranked and flagged.',
      resolve: (p) => p.product.whenExhausted,
    }),
    settings: t.field({
      type: [ProductSettingRef],
      description:
        'The personal settings this function keeps per user (R-CAT-3), the names setUserSetting accepts for it; empty: none. Moving a user out of the function deletes them (R-NAMED-4).',
      resolve: (p) => p.product.settings,
    }),
    reassignCooldownDays: t.int({
      nullable: true,
      description:
        'Days before a licence taken from a user may go to another one (connect-storm BASE: 90, R-REASSIGN-1); null: no cool-down.',
      resolve: (p) => p.product.reassignCooldownDays,
    }),
  }),
});

CatalogRef.implement({
  description: "One vendor's product line (R-CAT-1); an organization uses exactly one.",
  fields: (t) => ({
    code: t.exposeString('code', { description: 'The catalog code, e.g. innoacd or xphone-connect.' }),
    name: t.exposeString('name', { description: 'Display name of the product line.' }),
    vendor: t.exposeString('vendor', { description: 'The vendor that issues licence keys for this catalog.' }),
    maxUsers: t.int({
      nullable: true,
      description: 'Users one installation may hold at most (XPhone Connect: 5000); null: no limit.',
      resolve: (c) => c.maxUsers,
    }),
    options: t.exposeStringList('options', { description: 'Options a configuration group may switch on.' }),
    products: t.field({
      type: [ProductRef],
      description: 'Every product of the catalog, in catalog order.',
      resolve: (c) => c.products.map((product) => ({ catalog: c, product })),
    }),
  }),
});

builder.queryFields((t) => ({
  catalogs: t.field({
    type: [CatalogRef],
    description: 'The product catalogs this gateway knows (R-CAT-1). Readable without a token.',
    resolve: (_root, _args, ctx) => [...ctx.catalogs.values()].sort((a, b) => a.code.localeCompare(b.code)),
  }),
  catalog: t.field({
    type: CatalogRef,
    nullable: true,
    description: 'One catalog by its code; null when there is none. Readable without a token.',
    args: { code: t.arg.string({ required: true, description: 'The catalog code, e.g. innoacd.' }) },
    resolve: (_root, args, ctx) => ctx.catalogs.get(args.code) ?? null,
  }),
}));
