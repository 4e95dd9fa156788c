import type { Catalog, Product } from '../catalogs/types.ts';
import type { Organization, User, ConfigurationGroup, Site, Team } from '../tenancy/domain.ts';
import type { Connection } from './pagination.ts';
import type { WarningCode } from '../licensing/warnings.ts';
import type { ApiToken } from '../tokens/tokens.repository.ts';
import { builder } from './builder.ts';

/*
 * Object references shared across type files, so that types which point at
 * each other (Organization ↔ Site ↔ User) can be implemented in their own
 * module without import cycles.
 */

/** A product always travels with its catalog: bundles and requirements name products of the same catalog. */
export interface CatalogProduct {
  catalog: Catalog;
  product: Product;
}

export const CatalogRef = builder.objectRef<Catalog>('Catalog');
export const ProductRef = builder.objectRef<CatalogProduct>('Product');
export const OrganizationRef = builder.objectRef<Organization>('Organization');
export const SiteRef = builder.objectRef<Site>('Site');
export const ConfigurationGroupRef = builder.objectRef<ConfigurationGroup>('ConfigurationGroup');
export const TeamRef = builder.objectRef<Team>('Team');
export const UserRef = builder.objectRef<User>('User');
export const ApiTokenRef = builder.objectRef<ApiToken>('ApiToken');

const WarningCodeEnum = builder.enumType('WarningCode', {
  description: 'What a warning is about.',
  values: {
    RENEWAL_DUE: { description: 'The licence term ends soon and no follow-up key is activated (R-LIFE-2).' },
    LICENSE_IN_GRACE: { description: 'The licence term has ended; the grace period runs (R-LIFE-4).' },
    DEMO_MODE: { description: 'No licence in full use: demo mode (R-LIFE-5).' },
    CLOCK_ROLLBACK: { description: 'The clock went back behind the latest time the organization has seen (R-LIFE-6).' },
    MISSING_PREREQUISITE: { description: 'A product is configured or bought without what it needs (R-NAMED-3).' },
    UNDERLICENSED: { description: 'More active users need a product than there are licences (R-UNDER-2).' },
    UNLICENSED: { description: 'This user needs a product but holds no licence of it (R-UNDER-2).' },
    ANALYTICS_UNDERLICENSED: { description: "A team's members lack the licence team analytics need (R-ANALYTICS-2)." },
    ADDON_SHORTFALL: { description: 'More users use an add-on than a bundle covers and were bought (R-ADDON-1).' },
    CAPACITY_ADVISORY: { description: "Fewer licences than the catalog's sizing recommendation for the active users." },
  } satisfies Record<WarningCode, unknown>,
});

/** A warning as the API shows it; the referenced objects are optional. */
export interface WarningShape {
  code: WarningCode;
  message: string;
  product?: CatalogProduct | null;
  user?: User | null;
  site?: Site | null;
  team?: Team | null;
}
export const WarningRef = builder.objectRef<WarningShape>('Warning').implement({
  description: 'Something about the licence that needs attention, with the objects it is about.',
  fields: (t) => ({
    code: t.field({ type: WarningCodeEnum, description: 'What the warning is about, for programs.', resolve: (w) => w.code }),
    message: t.exposeString('message', { description: 'The warning in words, with figures and dates.' }),
    product: t.field({
      type: ProductRef,
      nullable: true,
      description: 'The product concerned; null: none.',
      resolve: (w) => w.product ?? null,
    }),
    user: t.field({ type: UserRef, nullable: true, description: 'The user concerned; null: none.', resolve: (w) => w.user ?? null }),
    site: t.field({ type: SiteRef, nullable: true, description: 'The site concerned; null: none.', resolve: (w) => w.site ?? null }),
    team: t.field({ type: TeamRef, nullable: true, description: 'The team concerned; null: none.', resolve: (w) => w.team ?? null }),
  }),
});

export type UserConnectionShape = Connection<User> & { totalCount: () => Promise<number> };
export const UserConnectionRef = builder.objectRef<UserConnectionShape>('UserConnection');

/** The Relay plugin's PageInfo (hasNextPage, hasPreviousPage, startCursor, endCursor), shared by every connection. */
export const PageInfoRef = builder.pageInfoRef();

/** The Node interface (src/schema/node.ts resolves Query.node and Query.nodes). */
export const NodeRef = builder.nodeInterfaceRef();

export function productOfCatalog(catalog: Catalog, code: string): CatalogProduct {
  const product = catalog.products.find((p) => p.code === code);
  if (!product) throw new Error(`product ${code} is not in catalog ${catalog.code}`);
  return { catalog, product };
}
