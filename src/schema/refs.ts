import type { Catalog, Product } from '../catalogs/types.ts';
import type { ApiTokenRow, ConfigurationGroupRow, OrganizationRow, SiteRow, TeamRow, UserRow } from '../db/schema.ts';
import type { Connection } from './pagination.ts';
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
export const OrganizationRef = builder.objectRef<OrganizationRow>('Organization');
export const SiteRef = builder.objectRef<SiteRow>('Site');
export const ConfigurationGroupRef = builder.objectRef<ConfigurationGroupRow>('ConfigurationGroup');
export const TeamRef = builder.objectRef<TeamRow>('Team');
export const UserRef = builder.objectRef<UserRow>('User');
export const ApiTokenRef = builder.objectRef<ApiTokenRow>('ApiToken');

/** A warning as the API shows it; the referenced objects are optional. */
export interface WarningShape {
  code: string;
  message: string;
  product?: CatalogProduct | null;
  user?: UserRow | null;
  site?: SiteRow | null;
  team?: TeamRow | null;
}
export const WarningRef = builder.objectRef<WarningShape>('Warning').implement({
  fields: (t) => ({
    code: t.exposeString('code'),
    message: t.exposeString('message'),
    product: t.field({ type: ProductRef, nullable: true, resolve: (w) => w.product ?? null }),
    user: t.field({ type: UserRef, nullable: true, resolve: (w) => w.user ?? null }),
    site: t.field({ type: SiteRef, nullable: true, resolve: (w) => w.site ?? null }),
    team: t.field({ type: TeamRef, nullable: true, resolve: (w) => w.team ?? null }),
  }),
});

export type UserConnectionShape = Connection<UserRow> & { totalCount: () => Promise<number> };
export const UserConnectionRef = builder.objectRef<UserConnectionShape>('UserConnection');

export const PageInfoRef = builder.objectRef<{ hasNextPage: boolean; endCursor: string | null }>('PageInfo').implement({
  fields: (t) => ({
    hasNextPage: t.exposeBoolean('hasNextPage'),
    endCursor: t.exposeString('endCursor', { nullable: true }),
  }),
});

export function productOfCatalog(catalog: Catalog, code: string): CatalogProduct {
  const product = catalog.products.find((p) => p.code === code);
  if (!product) throw new Error(`product ${code} is not in catalog ${catalog.code}`);
  return { catalog, product };
}
