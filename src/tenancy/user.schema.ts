import type { Context } from '../context.ts';
import { CHANGES_DESCRIPTION, ChangeReportRef, DRY_RUN_DESCRIPTION, selectsChanges } from '../reservations/reservations.schema.ts';
import { type ChangeReport, organizationOfUser, withChanges } from '../reservations/what-if.service.ts';
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
  NodeRef,
} from '../schema/refs.ts';
import { hasWarnings } from '../licensing/warnings.ts';
import { holderLicensesOf } from '../second-factor/security-keys.service.ts';
import * as repo from './tenancy.repository.ts';
import * as access from './access.ts';
import * as service from './tenancy.service.ts';
import type { User, UserRole, UserStatus } from './domain.ts';

export const UserRoleEnum = builder.enumType('UserRole', {
  description: "The user's job in the installation; it documents who the user is, licences come from configuration.",
  values: {
    AGENT: { description: 'Handles contacts (calls, e-mails, chats).' },
    SUPERVISOR: { description: 'Supervises agents and their queues.' },
    TEAM_LEAD: { description: 'Leads a team.' },
    ADMINISTRATOR: { description: 'Administers the installation.' },
    UC_USER: { description: 'A unified-communications user without contact-center work.' },
    VIEWER: { description: 'Only looks on (wallboards, reports).' },
  } satisfies Record<UserRole, unknown>,
});

export const UserStatusEnum = builder.enumType('UserStatus', {
  description: 'Where a user is in its life; only ACTIVE users count as active users and hold licences and sessions.',
  values: {
    PREPARING: { description: 'Created but not yet active; not counted as an active user.' },
    ACTIVE: { description: 'In use: counted as an active user (R-TEN-1), holds licences, may start sessions.' },
    INACTIVE: { description: 'Kept but out of use: holds no licence and no session; history stays.' },
  } satisfies Record<UserStatus, unknown>,
});

UserRef.implement({
  interfaces: [NodeRef],
  description: 'A person of an organization, at one site, optionally in a configuration group and a team.',
  fields: (t) => ({
    id: t.exposeID('id', { description: 'The user id (AGENT_CLIENT tokens may read it).' }),
    name: t.exposeString('name', { description: 'Display name, 1..200 characters (AGENT_CLIENT tokens may read it).' }),
    email: t.exposeString('email', { nullable: true, description: 'E-mail address; null when none was given.' }),
    role: t.field({ type: UserRoleEnum, description: "The user's job.", resolve: (u) => u.role }),
    status: t.field({ type: UserStatusEnum, description: 'PREPARING, ACTIVE or INACTIVE.', resolve: (u) => u.status }),
    createdAt: t.field({ type: 'DateTime', description: 'When the user was created.', resolve: (u) => u.created_at }),
    site: t.field({
      type: SiteRef,
      description: 'The site the user belongs to.',
      resolve: (u, _a, ctx) => must(ctx.loaders.site, u.site_id, 'site'),
    }),
    configurationGroup: t.field({
      type: ConfigurationGroupRef,
      nullable: true,
      description: 'The configuration group whose functions the user gets (R-NAMED-1); null: none.',
      resolve: (u, _a, ctx) => (u.configuration_group_id ? must(ctx.loaders.group, u.configuration_group_id, 'configuration group') : null),
    }),
    team: t.field({
      type: TeamRef,
      nullable: true,
      description: "The user's team; null: none.",
      resolve: (u, _a, ctx) => (u.team_id ? must(ctx.loaders.team, u.team_id, 'team') : null),
    }),
  }),
});

const UserEdgeRef = builder.objectRef<UserConnectionShape['edges'][number]>('UserEdge').implement({
  description: 'One user of a page, with the cursor to continue after it.',
  fields: (t) => ({
    cursor: t.exposeString('cursor', { description: 'Pass as `after` to get the users that follow this one.' }),
    node: t.field({ type: UserRef, description: 'The user at this place of the page.', resolve: (e) => e.node }),
  }),
});

UserConnectionRef.implement({
  description: 'A page of users, oldest first (R-API-3).',
  fields: (t) => ({
    edges: t.field({ type: [UserEdgeRef], description: 'The users of this page.', resolve: (c) => c.edges }),
    pageInfo: t.field({
      type: PageInfoRef,
      description: 'Whether more users follow, and the cursor to ask for them.',
      resolve: (c) => c.pageInfo,
    }),
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
  // Licences as the users' recorded facts leave them (R-2FA-2): one query for the holders of a licence that needs one.
  const licensesOf = await holderLicensesOf(ctx, view);
  const matching = view.users.filter(
    (u) =>
      (!('siteId' in scope) || u.site_id === scope.siteId) &&
      (!('configurationGroupId' in scope) || u.configuration_group_id === scope.configurationGroupId) &&
      hasWarnings(view.result, u, licensesOf(u.id)) === args.hasWarnings,
  );
  const after = page.afterId;
  const rows = (after ? matching.filter((u) => u.id > after) : matching).slice(0, page.limit + 1);
  return { ...toConnection(rows, page), totalCount: async () => matching.length };
}

builder.queryFields((t) => ({
  user: t.field({
    type: UserRef,
    nullable: true,
    description: 'One user by id; an unknown id, or one of another organization, is NOT_FOUND (R-SEC-2).',
    args: { id: t.arg.id({ required: true, description: 'Id of the user to read.' }) },
    resolve: (_root, args, ctx) => access.getUser(ctx, args.id),
  }),
}));

const CreateUserInput = builder.inputType('CreateUserInput', {
  description: 'A new user.',
  fields: (t) => ({
    siteId: t.id({ description: 'The site the user belongs to.' }),
    name: t.string({ description: 'Display name, 1..200 characters, no control characters.' }),
    role: t.field({ type: UserRoleEnum, description: "The user's job." }),
    email: t.string({ required: false, description: 'E-mail address, at most 320 characters; none by default.' }),
    status: t.field({ type: UserStatusEnum, required: false, description: 'Default ACTIVE.' }),
    configurationGroupId: t.id({ required: false, description: 'A configuration group of the same site; none by default.' }),
    teamId: t.id({ required: false, description: 'A team of the organization; none by default.' }),
  }),
});

const UpdateUserStatusInput = builder.inputType('UpdateUserStatusInput', {
  description: "A user's new status.",
  fields: (t) => ({
    userId: t.id({ description: 'The user to change.' }),
    status: t.field({ type: UserStatusEnum, description: 'The new status.' }),
    dryRun: t.boolean({ required: false, description: DRY_RUN_DESCRIPTION }),
  }),
});

const DeleteUserInput = builder.inputType('DeleteUserInput', {
  description: 'The user to delete.',
  fields: (t) => ({
    userId: t.id({ description: 'The user to delete.' }),
    dryRun: t.boolean({ required: false, description: DRY_RUN_DESCRIPTION }),
  }),
});

const CreateUserPayload = builder.objectRef<{ user: User }>('CreateUserPayload').implement({
  description: 'Result of createUser.',
  fields: (t) => ({ user: t.field({ type: UserRef, description: 'The user created.', resolve: (p) => p.user }) }),
});
const UpdateUserStatusPayload = builder.objectRef<{ user: User; changes: ChangeReport }>('UpdateUserStatusPayload').implement({
  description: 'Result of updateUserStatus.',
  fields: (t) => ({
    user: t.field({ type: UserRef, description: 'The user with its new status.', resolve: (p) => p.user }),
    changes: t.field({ type: ChangeReportRef, description: CHANGES_DESCRIPTION, resolve: (p) => p.changes }),
  }),
});
const DeleteUserPayload = builder.objectRef<{ deletedUserId: string; changes: ChangeReport }>('DeleteUserPayload').implement({
  description: 'Result of deleteUser.',
  fields: (t) => ({
    deletedUserId: t.exposeID('deletedUserId', { description: 'The id of the user deleted.' }),
    changes: t.field({ type: ChangeReportRef, description: CHANGES_DESCRIPTION, resolve: (p) => p.changes }),
  }),
});

builder.mutationFields((t) => ({
  createUser: t.field({
    type: CreateUserPayload,
    description: "Creates a user at a site. Refused beyond the catalog's maxUsers (R-TEN-3).",
    args: { input: t.arg({ type: CreateUserInput, required: true, description: 'Site, name, role and optional group and team.' }) },
    resolve: async (_root, { input }, ctx) => ({ user: await service.createUser(ctx, input) }),
  }),
  updateUserStatus: t.field({
    type: UpdateUserStatusPayload,
    description: "Changes a user's status; licences follow (R-UNDER-3) and leaving ACTIVE ends the user's open session.",
    args: { input: t.arg({ type: UpdateUserStatusInput, required: true, description: 'User and new status.' }) },
    resolve: async (_root, { input }, ctx, info) => {
      const { result: user, changes } = await withChanges(
        ctx,
        await organizationOfUser(ctx, input.userId),
        input.dryRun ?? false,
        (c) => service.updateUserStatus(c, input),
        { report: selectsChanges(info) },
      );
      return { user, changes };
    },
  }),
  deleteUser: t.field({
    type: DeleteUserPayload,
    description: 'Deletes a user, ending their session and freeing their licences (R-REASSIGN-2); their history stays in the event log.',
    args: { input: t.arg({ type: DeleteUserInput, required: true, description: 'The user to delete.' }) },
    resolve: async (_root, { input }, ctx, info) => {
      const { result, changes } = await withChanges(
        ctx,
        await organizationOfUser(ctx, input.userId),
        input.dryRun ?? false,
        (c) => service.deleteUser(c, input),
        { report: selectsChanges(info) },
      );
      return { deletedUserId: result, changes };
    },
  }),
}));
