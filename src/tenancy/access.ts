import { authorize, requireAuthenticated, viewerOrganization, type Permission } from '../auth/viewer.ts';
import type { Organization } from './domain.ts';
import type { Catalog } from '../catalogs/types.ts';
import type { Context } from '../context.ts';
import type { Executor } from '../db/database.ts';
import { notFound } from '../errors.ts';
import { isId } from '../ids.ts';
import * as repo from './tenancy.repository.ts';

/**
 * Loads an entity and checks the viewer may act on its organization. Ids of
 * the wrong shape, missing rows and rows of another organization all give the
 * same NOT_FOUND (R-SEC-2).
 */
async function load<T extends { organization_id: string }>(
  ctx: Context,
  db: Executor,
  what: string,
  id: string,
  permission: Permission,
  find: (db: Executor, id: string, organizationId: string | null) => Promise<T | undefined>,
): Promise<T> {
  requireAuthenticated(ctx.viewer);
  const row = isId(id) ? await find(db, id, viewerOrganization(ctx.viewer)) : undefined;
  if (!row) throw notFound(what, id);
  authorize(ctx.viewer, row.organization_id, permission, what, id);
  return row;
}

export async function getOrganization(
  ctx: Context,
  id: string,
  permission: Permission = 'read',
  db: Executor = ctx.db,
): Promise<Organization> {
  requireAuthenticated(ctx.viewer);
  const org = isId(id) ? await repo.findOrganization(db, id) : undefined;
  if (!org) throw notFound('organization', id);
  authorize(ctx.viewer, org.id, permission, 'organization', id);
  return org;
}

/**
 * `getOrganization` and the organization row's lock (FOR NO KEY UPDATE, the
 * first lock of the one lock order) in one read: the row comes locked in
 * `trx`. An id the viewer's token cannot reach is neither read nor locked;
 * the answers are those of `getOrganization`.
 */
export async function lockOrganizationFor(ctx: Context, trx: Executor, id: string, permission: Permission): Promise<Organization> {
  requireAuthenticated(ctx.viewer);
  const scope = viewerOrganization(ctx.viewer);
  const org = isId(id) && (scope === null || scope === id) ? await repo.lockOrganization(trx, id) : undefined;
  if (!org) throw notFound('organization', id);
  authorize(ctx.viewer, org.id, permission, 'organization', id);
  return org;
}

export const getSite = (ctx: Context, id: string, permission: Permission = 'read', db: Executor = ctx.db) =>
  load(ctx, db, 'site', id, permission, repo.findSite);
export const getGroup = (ctx: Context, id: string, permission: Permission = 'read', db: Executor = ctx.db) =>
  load(ctx, db, 'configuration group', id, permission, repo.findGroup);
export const getTeam = (ctx: Context, id: string, permission: Permission = 'read', db: Executor = ctx.db) =>
  load(ctx, db, 'team', id, permission, repo.findTeam);
export const getUser = (ctx: Context, id: string, permission: Permission = 'read', db: Executor = ctx.db) =>
  load(ctx, db, 'user', id, permission, repo.findUser);

export function catalogOf(ctx: Context, org: Organization): Catalog {
  const catalog = ctx.catalogs.get(org.catalog_code);
  // Organizations are only created with a known catalog; a missing one is a deployment error.
  if (!catalog) throw new Error(`catalog ${org.catalog_code} of organization ${org.id} is not loaded`);
  return catalog;
}
