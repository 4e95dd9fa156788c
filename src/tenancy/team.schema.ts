import { builder } from '../schema/builder.ts';
import type { Team } from './domain.ts';
import { must } from '../schema/loaders.ts';
import { TeamRef, UserRef } from '../schema/refs.ts';
import * as access from './access.ts';
import * as service from './tenancy.service.ts';

TeamRef.implement({
  fields: (t) => ({
    id: t.exposeID('id'),
    name: t.exposeString('name'),
    leader: t.field({
      type: UserRef,
      nullable: true,
      resolve: (team, _a, ctx) => (team.leader_id ? must(ctx.loaders.user, team.leader_id, 'user') : null),
    }),
    members: t.field({ type: [UserRef], resolve: (team, _a, ctx) => ctx.loaders.membersOfTeam.load(team.id) }),
  }),
});

builder.queryFields((t) => ({
  team: t.field({
    type: TeamRef,
    nullable: true,
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => access.getTeam(ctx, args.id),
  }),
}));

const CreateTeamInput = builder.inputType('CreateTeamInput', {
  fields: (t) => ({ organizationId: t.id(), name: t.string(), leaderId: t.id({ required: false }) }),
});

const CreateTeamPayload = builder.objectRef<{ team: Team }>('CreateTeamPayload').implement({
  fields: (t) => ({ team: t.field({ type: TeamRef, resolve: (p) => p.team }) }),
});

builder.mutationFields((t) => ({
  createTeam: t.field({
    type: CreateTeamPayload,
    args: { input: t.arg({ type: CreateTeamInput, required: true }) },
    resolve: async (_root, { input }, ctx) => ({ team: await service.createTeam(ctx, input) }),
  }),
}));
