import type { Context } from '../context.ts';
import { MoveUsersPayload } from '../assignments/assignments.schema.ts';
import { builder } from '../schema/builder.ts';
import { twoWayConnection } from '../schema/connections.ts';
import { ConfigurationGroupRef, OrganizationRef, SiteRef, TeamRef, UserRef } from '../schema/refs.ts';
import * as admin from './admin.service.ts';
import type { ConfigurationGroup, Organization, Site, Team, User } from './domain.ts';
import * as repo from './tenancy.repository.ts';
import { importUsers, MAX_IMPORT_USERS, type ImportReport, type RowAnswer } from './import.service.ts';
import { UserRoleEnum, UserStatusEnum } from './user.schema.ts';

/*
 * The admin API beyond creation: two-way connections of sites, teams and
 * team members (Relay plugin), and every rename, move and deletion
 * (src/tenancy/admin.service.ts). Moves and deletions that move users report
 * their licence consequences as moveUsers does, and take dryRun.
 */

/* ------------------------------------------------------------ connections */

builder.objectFields(OrganizationRef, (t) => ({
  siteConnection: t.connection(
    {
      type: SiteRef,
      description: 'Every site, oldest first, a page at a time in either direction (first/after, last/before; R-API-3).',
      resolve: (org, args, ctx) => twoWayConnection(args, (page) => repo.pageOfSites(ctx.db, org.id, page)),
    },
    { name: 'SiteConnection', description: 'A page of sites, oldest first.' },
    { name: 'SiteEdge', description: 'One site of a page, with its cursor.' },
  ),
  teamConnection: t.connection(
    {
      type: TeamRef,
      description: 'Every team, oldest first, a page at a time in either direction (first/after, last/before; R-API-3).',
      resolve: (org, args, ctx) => twoWayConnection(args, (page) => repo.pageOfTeams(ctx.db, org.id, page)),
    },
    { name: 'TeamConnection', description: 'A page of teams, oldest first.' },
    { name: 'TeamEdge', description: 'One team of a page, with its cursor.' },
  ),
}));

builder.objectFields(TeamRef, (t) => ({
  memberConnection: t.connection(
    {
      type: UserRef,
      description: "The team's members, oldest first, a page at a time in either direction (first/after, last/before; R-API-3).",
      resolve: async (team, args, ctx) => ({
        ...(await twoWayConnection(args, (page) => repo.pageOfTeamMembers(ctx.db, team.organization_id, team.id, page))),
        totalCount: () => repo.countTeamMembers(ctx.db, team.organization_id, team.id),
      }),
    },
    {
      name: 'TeamMemberConnection',
      description: 'A page of team members, oldest first.',
      fields: (c) => ({
        totalCount: c.int({
          description: 'Members of the team, on all pages.',
          resolve: (conn) => (conn as unknown as { totalCount: () => Promise<number> }).totalCount(),
        }),
      }),
    },
    { name: 'TeamMemberEdge', description: 'One member of a page, with its cursor.' },
  ),
}));

/* ------------------------------------------------------------ payloads */

/** After a write, the request's loaders hold rows of before it. */
function fresh(ctx: Context): void {
  ctx.loaders.clearAll();
}

const consequencesField = {
  description: 'The users moved and the licences and settings they lose, as moveUsers reports them; null: no user had to move.',
};

const DeletePayload = builder.objectRef<admin.DeleteReport & { dryRun: boolean }>('DeletePayload').implement({
  description: 'Result of deleteSite and deleteConfigurationGroup.',
  fields: (t) => ({
    applied: t.boolean({
      description: 'False for a dry run: nothing was deleted or moved.',
      resolve: (p) => !p.dryRun,
    }),
    deletedId: t.exposeID('deletedId', { description: 'The id of the object deleted (or that would be, in a dry run).' }),
    consequences: t.field({ type: MoveUsersPayload, nullable: true, ...consequencesField, resolve: (p) => p.consequences }),
  }),
});

const DeleteTeamPayload = builder
  .objectRef<admin.DeleteReport & { movedUserIds: string[]; dryRun: boolean }>('DeleteTeamPayload')
  .implement({
    description: 'Result of deleteTeam.',
    fields: (t) => ({
      applied: t.boolean({ description: 'False for a dry run: nothing was deleted or moved.', resolve: (p) => !p.dryRun }),
      deletedTeamId: t.exposeID('deletedId', { description: 'The id of the team deleted (or that would be, in a dry run).' }),
      movedUsers: t.field({
        type: [UserRef],
        description: 'The members moved to the target team (team membership holds no licence: nothing else changes).',
        resolve: async (p, _a, ctx) =>
          (await ctx.loaders.user.loadMany(p.movedUserIds)).filter((u): u is User => !!u && !(u instanceof Error)),
      }),
    }),
  });

const UpdateOrganizationPayload = builder.objectRef<{ organization: Organization }>('UpdateOrganizationPayload').implement({
  description: 'Result of updateOrganization.',
  fields: (t) => ({
    organization: t.field({ type: OrganizationRef, description: 'The organization after the change.', resolve: (p) => p.organization }),
  }),
});
const RenameSitePayload = builder.objectRef<{ site: Site }>('RenameSitePayload').implement({
  description: 'Result of renameSite.',
  fields: (t) => ({ site: t.field({ type: SiteRef, description: 'The site after the change.', resolve: (p) => p.site }) }),
});
const RenameConfigurationGroupPayload = builder
  .objectRef<{ configurationGroup: ConfigurationGroup }>('RenameConfigurationGroupPayload')
  .implement({
    description: 'Result of renameConfigurationGroup.',
    fields: (t) => ({
      configurationGroup: t.field({
        type: ConfigurationGroupRef,
        description: 'The group after the change.',
        resolve: (p) => p.configurationGroup,
      }),
    }),
  });
const TeamPayload = builder.objectRef<{ team: Team }>('TeamPayload').implement({
  description: 'Result of renameTeam, setTeamLeader, addTeamMembers and removeTeamMembers.',
  fields: (t) => ({ team: t.field({ type: TeamRef, description: 'The team after the change.', resolve: (p) => p.team }) }),
});
const UpdateUserPayload = builder
  .objectRef<{ user: User; consequences: admin.Consequences | null; dryRun: boolean }>('UpdateUserPayload')
  .implement({
    description: 'Result of updateUser.',
    fields: (t) => ({
      applied: t.boolean({ description: 'False for a dry run: nothing was changed.', resolve: (p) => !p.dryRun }),
      user: t.field({ type: UserRef, description: 'The user after the change (or as it would be, in a dry run).', resolve: (p) => p.user }),
      consequences: t.field({ type: MoveUsersPayload, nullable: true, ...consequencesField, resolve: (p) => p.consequences }),
    }),
  });

/* ------------------------------------------------------------ inputs */

const UpdateOrganizationInput = builder.inputType('UpdateOrganizationInput', {
  description: "An organization's new name or customer reference.",
  fields: (t) => ({
    organizationId: t.id({ description: 'The organization to change.' }),
    name: t.string({ required: false, description: 'New display name, 1..200 characters; omitted: unchanged.' }),
    customerRef: t.string({
      required: false,
      description: `The vendor's customer reference, set once (${admin.RULES.customerRefOnce}): refused when another is set already.`,
    }),
  }),
});
const RenameSiteInput = builder.inputType('RenameSiteInput', {
  description: "A site's new name.",
  fields: (t) => ({
    siteId: t.id({ description: 'The site to rename.' }),
    name: t.string({ description: 'New display name, 1..200 characters, unique within the organization.' }),
  }),
});
const DeleteSiteInput = builder.inputType('DeleteSiteInput', {
  description: 'The site to delete, and where its users go.',
  fields: (t) => ({
    siteId: t.id({ description: 'The site to delete, with its configuration groups.' }),
    moveUsersToSiteId: t.id({
      required: false,
      description: `Another site for the site's users; required while it has users (${admin.RULES.deleteWithUsers}).`,
    }),
    moveUsersToConfigurationGroupId: t.id({
      required: false,
      description: 'A configuration group of that site for the moved users; none by default (they lose their group functions).',
    }),
    dryRun: t.boolean({ required: false, description: 'Report what would change, change nothing.' }),
  }),
});
const RenameConfigurationGroupInput = builder.inputType('RenameConfigurationGroupInput', {
  description: "A configuration group's new name.",
  fields: (t) => ({
    configurationGroupId: t.id({ description: 'The group to rename.' }),
    name: t.string({ description: 'New display name, 1..200 characters, unique within the site.' }),
  }),
});
const DeleteConfigurationGroupInput = builder.inputType('DeleteConfigurationGroupInput', {
  description: 'The configuration group to delete, and where its members go.',
  fields: (t) => ({
    configurationGroupId: t.id({ description: 'The group to delete.' }),
    moveUsersToConfigurationGroupId: t.id({
      required: false,
      description: `Another group of the same site for the members; required while it has members (${admin.RULES.deleteWithUsers}).`,
    }),
    dryRun: t.boolean({ required: false, description: 'Report what would change, change nothing.' }),
  }),
});
const RenameTeamInput = builder.inputType('RenameTeamInput', {
  description: "A team's new name.",
  fields: (t) => ({
    teamId: t.id({ description: 'The team to rename.' }),
    name: t.string({ description: 'New display name, 1..200 characters, unique within the organization.' }),
  }),
});
const SetTeamLeaderInput = builder.inputType('SetTeamLeaderInput', {
  description: "A team's leader.",
  fields: (t) => ({
    teamId: t.id({ description: 'The team.' }),
    leaderId: t.id({
      required: false,
      description: 'A user of the organization to lead the team (joins it if not a member); null or omitted: no leader.',
    }),
  }),
});
const TeamMembersInput = builder.inputType('TeamMembersInput', {
  description: 'Users to add to or remove from a team.',
  fields: (t) => ({
    teamId: t.id({ description: 'The team.' }),
    userIds: t.idList({ description: `Users of the organization, 1..${admin.MAX_TEAM_CHANGE_USERS}.` }),
  }),
});
const DeleteTeamInput = builder.inputType('DeleteTeamInput', {
  description: 'The team to delete, and where its members go.',
  fields: (t) => ({
    teamId: t.id({ description: 'The team to delete.' }),
    moveMembersToTeamId: t.id({
      required: false,
      description: `Another team for the members; required while it has members (${admin.RULES.deleteWithUsers}).`,
    }),
    dryRun: t.boolean({ required: false, description: 'Report what would change, change nothing.' }),
  }),
});
const UpdateUserInput = builder.inputType('UpdateUserInput', {
  description: "A user's new name, e-mail, role, site, configuration group or team; omitted fields stay as they are.",
  fields: (t) => ({
    userId: t.id({ description: 'The user to change.' }),
    name: t.string({ required: false, description: 'New display name, 1..200 characters.' }),
    email: t.string({ required: false, description: 'New e-mail address; null clears it.' }),
    role: t.field({ type: UserRoleEnum, required: false, description: "The user's new job." }),
    siteId: t.id({
      required: false,
      description: 'Another site; the user leaves their group unless configurationGroupId names one there.',
    }),
    configurationGroupId: t.id({
      required: false,
      description: "A configuration group of the user's (new) site; null: none. Licences follow (R-NAMED-4).",
    }),
    teamId: t.id({ required: false, description: 'A team of the organization; null: none.' }),
    dryRun: t.boolean({ required: false, description: 'Report what would change, change nothing.' }),
  }),
});

/* ------------------------------------------------------------ mutations */

builder.mutationFields((t) => ({
  updateOrganization: t.field({
    type: UpdateOrganizationPayload,
    description: `Renames an organization, or sets its customer reference once (${admin.RULES.customerRefOnce}). Platform operator only.`,
    args: { input: t.arg({ type: UpdateOrganizationInput, required: true, description: 'Organization, name and customer reference.' }) },
    resolve: async (_root, { input }, ctx) => {
      const organization = await admin.updateOrganization(ctx, input);
      fresh(ctx);
      return { organization };
    },
  }),
  renameSite: t.field({
    type: RenameSitePayload,
    description: 'Renames a site.',
    args: { input: t.arg({ type: RenameSiteInput, required: true, description: 'Site and name.' }) },
    resolve: async (_root, { input }, ctx) => ({ site: await admin.renameSite(ctx, input) }),
  }),
  deleteSite: t.field({
    type: DeletePayload,
    description: `Deletes a site and its configuration groups. Refused while it has users unless moveUsersToSiteId is given (${admin.RULES.deleteWithUsers}); they move first, with the licence consequences reported. dryRun changes nothing.`,
    args: { input: t.arg({ type: DeleteSiteInput, required: true, description: 'Site, target for its users, dryRun.' }) },
    resolve: async (_root, { input }, ctx) => {
      const report = await admin.deleteSite(ctx, input);
      fresh(ctx);
      return { ...report, dryRun: input.dryRun ?? false };
    },
  }),
  renameConfigurationGroup: t.field({
    type: RenameConfigurationGroupPayload,
    description: 'Renames a configuration group (its functions: updateConfigurationGroup).',
    args: { input: t.arg({ type: RenameConfigurationGroupInput, required: true, description: 'Group and name.' }) },
    resolve: async (_root, { input }, ctx) => ({ configurationGroup: await admin.renameConfigurationGroup(ctx, input) }),
  }),
  deleteConfigurationGroup: t.field({
    type: DeletePayload,
    description: `Deletes a configuration group. Refused while it has members unless moveUsersToConfigurationGroupId is given (${admin.RULES.deleteWithUsers}); they move first, with the licence consequences reported. dryRun changes nothing.`,
    args: { input: t.arg({ type: DeleteConfigurationGroupInput, required: true, description: 'Group, target for its members, dryRun.' }) },
    resolve: async (_root, { input }, ctx) => {
      const report = await admin.deleteConfigurationGroup(ctx, input);
      fresh(ctx);
      return { ...report, dryRun: input.dryRun ?? false };
    },
  }),
  renameTeam: t.field({
    type: TeamPayload,
    description: 'Renames a team.',
    args: { input: t.arg({ type: RenameTeamInput, required: true, description: 'Team and name.' }) },
    resolve: async (_root, { input }, ctx) => ({ team: await admin.renameTeam(ctx, input) }),
  }),
  setTeamLeader: t.field({
    type: TeamPayload,
    description: "Sets, changes or clears a team's leader; the leader needs no analytics licence (R-ANALYTICS-1).",
    args: { input: t.arg({ type: SetTeamLeaderInput, required: true, description: 'Team and leader.' }) },
    resolve: async (_root, { input }, ctx) => {
      const team = await admin.setTeamLeader(ctx, input);
      fresh(ctx);
      return { team };
    },
  }),
  addTeamMembers: t.field({
    type: TeamPayload,
    description: 'Makes users members of a team; a user has one team, so they leave their previous one.',
    args: { input: t.arg({ type: TeamMembersInput, required: true, description: 'Team and users.' }) },
    resolve: async (_root, { input }, ctx) => {
      const team = await admin.addTeamMembers(ctx, input);
      fresh(ctx);
      return { team };
    },
  }),
  removeTeamMembers: t.field({
    type: TeamPayload,
    description: 'Removes members from a team; removing the leader also clears the leader.',
    args: { input: t.arg({ type: TeamMembersInput, required: true, description: 'Team and users.' }) },
    resolve: async (_root, { input }, ctx) => {
      const team = await admin.removeTeamMembers(ctx, input);
      fresh(ctx);
      return { team };
    },
  }),
  deleteTeam: t.field({
    type: DeleteTeamPayload,
    description: `Deletes a team. Refused while it has members unless moveMembersToTeamId is given (${admin.RULES.deleteWithUsers}). dryRun changes nothing.`,
    args: { input: t.arg({ type: DeleteTeamInput, required: true, description: 'Team, target for its members, dryRun.' }) },
    resolve: async (_root, { input }, ctx) => {
      const report = await admin.deleteTeam(ctx, input);
      fresh(ctx);
      return { ...report, dryRun: input.dryRun ?? false };
    },
  }),
  updateUser: t.field({
    type: UpdateUserPayload,
    description:
      'Renames a user, changes e-mail and role, moves them to another site, configuration group or team. Moves change licences as moveUsers does (R-NAMED-4) and are reported; dryRun changes nothing. The status: updateUserStatus.',
    args: { input: t.arg({ type: UpdateUserInput, required: true, description: 'User and the fields to change.' }) },
    resolve: async (_root, { input }, ctx) => {
      const report = await admin.updateUser(ctx, input);
      fresh(ctx);
      return { ...report, dryRun: input.dryRun ?? false };
    },
  }),
}));

/* ------------------------------------------------------------ bulk import */

const ImportUserRowInput = builder.inputType('ImportUserRow', {
  description: 'One user to import.',
  fields: (t) => ({
    name: t.string({ description: 'Display name, 1..200 characters, no control characters.' }),
    email: t.string({ required: false, description: 'E-mail address, unique in the organization and the import; none by default.' }),
    site: t.string({ description: 'A site of the organization, by id or by name (case-insensitive).' }),
    configurationGroup: t.string({ required: false, description: 'A configuration group of that site, by id or name; none by default.' }),
    team: t.string({ required: false, description: 'A team of the organization, by id or name; none by default.' }),
    role: t.field({ type: UserRoleEnum, description: "The user's job." }),
    status: t.field({ type: UserStatusEnum, required: false, description: 'Default ACTIVE.' }),
  }),
});
const ImportUsersInput = builder.inputType('ImportUsersInput', {
  description: `Users to create in one transaction, all or nothing (at most ${MAX_IMPORT_USERS}).`,
  fields: (t) => ({
    organizationId: t.id({ description: 'The organization to import into.' }),
    users: t.field({ type: [ImportUserRowInput], description: `1..${MAX_IMPORT_USERS} users.` }),
    dryRun: t.boolean({ required: false, description: 'Check every row and the licence rules, create nothing.' }),
  }),
});
const ImportUserResultRef = builder.objectRef<RowAnswer>('ImportUserResult').implement({
  description: 'The answer for one row of importUsers.',
  fields: (t) => ({
    index: t.exposeInt('index', { description: 'The row, counted from 0 in input.users.' }),
    created: t.exposeBoolean('created', { description: 'True when the user was created (false in a dry run or a refused import).' }),
    userId: t.exposeID('userId', { nullable: true, description: "The new user's id; null unless created." }),
    field: t.exposeString('field', { nullable: true, description: 'The refused field, e.g. input.users[3].email; null: the row is fine.' }),
    rule: t.exposeString('rule', { nullable: true, description: 'The rule the row breaks; null: none.' }),
    message: t.exposeString('message', { nullable: true, description: 'Why the row is refused; null: it is not.' }),
  }),
});
const ImportUsersPayload = builder.objectRef<ImportReport>('ImportUsersPayload').implement({
  description: 'Result of importUsers: one answer per row.',
  fields: (t) => ({
    applied: t.exposeBoolean('applied', { description: 'True when every user was created; false for a dry run or when a row is refused.' }),
    created: t.exposeInt('created', { description: 'Users created.' }),
    refused: t.exposeInt('refused', { description: 'Rows refused (then nothing is created).' }),
    rows: t.field({ type: [ImportUserResultRef], description: 'One answer per row, in input order.', resolve: (p) => p.rows }),
  }),
});

builder.mutationFields((t) => ({
  importUsers: t.field({
    type: ImportUsersPayload,
    description: `Creates up to ${MAX_IMPORT_USERS} users in one transaction, all or nothing: every row is checked and answered (created, or refused with field and rule); a refused row creates nobody. The licence rules apply to the batch (base licences, R-REASSIGN; maxUsers, R-TEN-3). dryRun checks and creates nothing.`,
    args: { input: t.arg({ type: ImportUsersInput, required: true, description: 'Organization, users and dryRun.' }) },
    resolve: async (_root, { input }, ctx) => {
      const report = await importUsers(ctx, input);
      fresh(ctx);
      return report;
    },
  }),
}));
