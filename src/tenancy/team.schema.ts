import { builder } from '../schema/builder.ts';
import type { Team } from './domain.ts';
import { must } from '../schema/loaders.ts';
import { TeamRef, UserRef, NodeRef } from '../schema/refs.ts';
import * as access from './access.ts';
import * as service from './tenancy.service.ts';

TeamRef.implement({
  interfaces: [NodeRef],
  description: 'A group of users across sites with an optional leader; its analytics need licences (R-ANALYTICS-1).',
  fields: (t) => ({
    id: t.exposeID('id', { description: 'Opaque id of the team; ids sort by creation.' }),
    name: t.exposeString('name', { description: 'Display name, unique within the organization.' }),
    leader: t.field({
      type: UserRef,
      nullable: true,
      description: "The team's leader; null when it has none.",
      resolve: (team, _a, ctx) => (team.leader_id ? must(ctx.loaders.user, team.leader_id, 'user') : null),
    }),
    members: t.field({
      type: [UserRef],
      description: 'Users whose team this is, oldest first.',
      resolve: (team, _a, ctx) => ctx.loaders.membersOfTeam.load(team.id),
    }),
  }),
});

builder.queryFields((t) => ({
  team: t.field({
    type: TeamRef,
    nullable: true,
    description: 'One team by id; an unknown id, or one of another organization, is NOT_FOUND (R-SEC-2).',
    args: { id: t.arg.id({ required: true, description: 'Id of the team to read.' }) },
    resolve: (_root, args, ctx) => access.getTeam(ctx, args.id),
  }),
}));

const CreateTeamInput = builder.inputType('CreateTeamInput', {
  description: 'A new team.',
  fields: (t) => ({
    organizationId: t.id({ description: 'The organization to add the team to.' }),
    name: t.string({ description: 'Display name, 1..200 characters, unique within the organization.' }),
    leaderId: t.id({ required: false, description: 'A user of the organization to lead the team; none by default.' }),
  }),
});

const CreateTeamPayload = builder.objectRef<{ team: Team }>('CreateTeamPayload').implement({
  description: 'Result of createTeam.',
  fields: (t) => ({ team: t.field({ type: TeamRef, description: 'The team created.', resolve: (p) => p.team }) }),
});

builder.mutationFields((t) => ({
  createTeam: t.field({
    type: CreateTeamPayload,
    description: 'Adds a team to an organization (at most 500 per organization, R-SEC-3).',
    args: { input: t.arg({ type: CreateTeamInput, required: true, description: 'Organization, name and leader.' }) },
    resolve: async (_root, { input }, ctx) => ({ team: await service.createTeam(ctx, input) }),
  }),
}));
