import type { Context } from '../context.ts';
import { builder } from '../schema/builder.ts';
import { must } from '../schema/loaders.ts';
import { parsePage, toConnection, type PageArgs } from '../schema/pagination.ts';
import {
  ConfigurationGroupRef,
  PageInfoRef,
  SiteRef,
  TeamRef,
  UserConnectionRef,
  UserRef,
  type UserConnectionShape,
} from '../schema/refs.ts';
import { hasWarnings } from '../licensing/warnings.ts';
import * as repo from './tenancy.repository.ts';
import * as access from './access.ts';
import * as service from './tenancy.service.ts';
import { type User, USER_ROLES, type UserStatus } from './domain.ts';

export const UserRoleEnum = builder.enumType('UserRole', { values: USER_ROLES });

export const UserStatusEnum = builder.enumType('UserStatus', {
  values: {
    PREPARING: { description: 'Created but not yet active; not counted as an active user.' },
    ACTIVE: {},
    INACTIVE: {},
  } satisfies Record<UserStatus, unknown>,
});

UserRef.implement({
  fields: (t) => ({
    id: t.exposeID('id'),
    name: t.exposeString('name'),
    email: t.exposeString('email', { nullable: true }),
    role: t.field({ type: UserRoleEnum, resolve: (u) => u.role }),
    status: t.field({ type: UserStatusEnum, resolve: (u) => u.status }),
    createdAt: t.field({ type: 'DateTime', resolve: (u) => u.created_at }),
    site: t.field({ type: SiteRef, resolve: (u, _a, ctx) => must(ctx.loaders.site, u.site_id, 'site') }),
    configurationGroup: t.field({
      type: ConfigurationGroupRef,
      nullable: true,
      resolve: (u, _a, ctx) => (u.configuration_group_id ? must(ctx.loaders.group, u.configuration_group_id, 'configuration group') : null),
    }),
    team: t.field({
      type: TeamRef,
      nullable: true,
      resolve: (u, _a, ctx) => (u.team_id ? must(ctx.loaders.team, u.team_id, 'team') : null),
    }),
  }),
});

const UserEdgeRef = builder.objectRef<UserConnectionShape['edges'][number]>('UserEdge').implement({
  fields: (t) => ({
    cursor: t.exposeString('cursor'),
    node: t.field({ type: UserRef, resolve: (e) => e.node }),
  }),
});

UserConnectionRef.implement({
  fields: (t) => ({
    edges: t.field({ type: [UserEdgeRef], resolve: (c) => c.edges }),
    pageInfo: t.field({ type: PageInfoRef, resolve: (c) => c.pageInfo }),
    totalCount: t.int({ description: 'Users matching the filter, on all pages.', resolve: (c) => c.totalCount() }),
  }),
});

/**
 * A page of users in creation order; the total is counted only when asked for.
 * With `hasWarnings` the filter needs the organization's allocation (warnings
 * depend on everyone's fixed order), which the request computes once.
 */
export async function usersConnection(
  ctx: Context,
  scope: repo.UserScope,
  args: PageArgs & { hasWarnings?: boolean | null },
): Promise<UserConnectionShape> {
  const page = parsePage(args);
  if (args.hasWarnings == null) {
    const rows = await repo.pageOfUsers(ctx.db, scope, page);
    return { ...toConnection(rows, page), totalCount: () => repo.countUsersIn(ctx.db, scope) };
  }
  const view = await ctx.loaders.allocation.load(scope.organizationId);
  const matching = view.users.filter(
    (u) =>
      (!('siteId' in scope) || u.site_id === scope.siteId) &&
      (!('configurationGroupId' in scope) || u.configuration_group_id === scope.configurationGroupId) &&
      hasWarnings(view.result, u) === args.hasWarnings,
  );
  const after = page.afterId;
  const rows = (after ? matching.filter((u) => u.id > after) : matching).slice(0, page.limit + 1);
  return { ...toConnection(rows, page), totalCount: async () => matching.length };
}

builder.queryFields((t) => ({
  user: t.field({
    type: UserRef,
    nullable: true,
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => access.getUser(ctx, args.id),
  }),
}));

const CreateUserInput = builder.inputType('CreateUserInput', {
  fields: (t) => ({
    siteId: t.id(),
    name: t.string(),
    role: t.field({ type: UserRoleEnum }),
    email: t.string({ required: false }),
    status: t.field({ type: UserStatusEnum, required: false, description: 'Default ACTIVE.' }),
    configurationGroupId: t.id({ required: false }),
    teamId: t.id({ required: false }),
  }),
});

const UpdateUserStatusInput = builder.inputType('UpdateUserStatusInput', {
  fields: (t) => ({ userId: t.id(), status: t.field({ type: UserStatusEnum }) }),
});

const DeleteUserInput = builder.inputType('DeleteUserInput', { fields: (t) => ({ userId: t.id() }) });

const CreateUserPayload = builder.objectRef<{ user: User }>('CreateUserPayload').implement({
  fields: (t) => ({ user: t.field({ type: UserRef, resolve: (p) => p.user }) }),
});
const UpdateUserStatusPayload = builder.objectRef<{ user: User }>('UpdateUserStatusPayload').implement({
  fields: (t) => ({ user: t.field({ type: UserRef, resolve: (p) => p.user }) }),
});
const DeleteUserPayload = builder.objectRef<{ deletedUserId: string }>('DeleteUserPayload').implement({
  fields: (t) => ({ deletedUserId: t.exposeID('deletedUserId') }),
});

builder.mutationFields((t) => ({
  createUser: t.field({
    type: CreateUserPayload,
    description: "Creates a user at a site. Refused beyond the catalog's maxUsers (R-TEN-3).",
    args: { input: t.arg({ type: CreateUserInput, required: true }) },
    resolve: async (_root, { input }, ctx) => ({ user: await service.createUser(ctx, input) }),
  }),
  updateUserStatus: t.field({
    type: UpdateUserStatusPayload,
    args: { input: t.arg({ type: UpdateUserStatusInput, required: true }) },
    resolve: async (_root, { input }, ctx) => ({ user: await service.updateUserStatus(ctx, input) }),
  }),
  deleteUser: t.field({
    type: DeleteUserPayload,
    description: 'Deletes a user; their history stays in the event log.',
    args: { input: t.arg({ type: DeleteUserInput, required: true }) },
    resolve: async (_root, { input }, ctx) => ({ deletedUserId: await service.deleteUser(ctx, input) }),
  }),
}));
