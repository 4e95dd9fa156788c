import { readFileSync } from 'node:fs';
import SchemaBuilder from '@pothos/core';
import ScopeAuthPlugin from '@pothos/plugin-scope-auth';
import {
  GraphQLError,
  getNamedType,
  graphql,
  isObjectType,
  type GraphQLField,
  type GraphQLObjectType,
  type GraphQLResolveInfo,
  type GraphQLSchema,
} from 'graphql';
import { describe, expect, it } from 'vitest';
import { LEVELS, PRINCIPALS, REACH, REACH_RULE, allows, reachMarkdown, reachOf, refusal, type Principal } from '../../src/auth/reach.ts';
import '../../src/auth/reach-plugin.ts';
import type { Viewer } from '../../src/auth/viewer.ts';
import { getSchema } from '../../src/schema/index.ts';

/*
 * R-SEC-5, generated from the schema: every Type.field of the built schema,
 * for every caller (the operator, each ApiRole, no token), is refused or let
 * through exactly as the reach table says. A field the table does not list
 * fails the first test.
 */

const schema = getSchema();

function objectTypes(s: GraphQLSchema): GraphQLObjectType[] {
  return Object.values(s.getTypeMap()).filter((t): t is GraphQLObjectType => isObjectType(t) && !t.name.startsWith('__'));
}

function viewerOf(principal: Principal): Viewer {
  if (principal === 'OPERATOR') return { kind: 'operator' };
  if (principal === 'ANONYMOUS') return { kind: 'anonymous' };
  return { kind: 'token', tokenId: 'probe-token', organizationId: 'probe-organization', role: principal };
}

function infoFor(type: GraphQLObjectType, field: GraphQLField<unknown, unknown>): GraphQLResolveInfo {
  return {
    fieldName: field.name,
    fieldNodes: [],
    returnType: field.type,
    parentType: type,
    path: { prev: undefined, key: field.name, typename: type.name },
    schema,
    fragments: {},
    rootValue: undefined,
    operation: { kind: 'OperationDefinition', operation: 'query', selectionSet: { kind: 'SelectionSet', selections: [] } } as never,
    variableValues: {},
  } as GraphQLResolveInfo;
}

/**
 * Calls the built field's resolver (subscribe for subscriptions) with a
 * context that carries only the caller. The authorization step runs first;
 * past it the resolver fails on the missing database, which is "let through".
 */
async function probe(type: GraphQLObjectType, field: GraphQLField<unknown, unknown>, principal: Principal): Promise<GraphQLError | null> {
  const run = type.name === 'Subscription' ? field.subscribe : field.resolve;
  try {
    await run?.({}, {}, { viewer: viewerOf(principal) }, infoFor(type, field));
    return null;
  } catch (error) {
    return error instanceof GraphQLError && error.extensions.rule === REACH_RULE ? error : null;
  }
}

describe('[R-SEC-5] the reach table covers the schema', () => {
  it('lists every Type.field of the schema, and nothing the schema lacks', () => {
    const inSchema = objectTypes(schema).flatMap((t) => Object.keys(t.getFields()).map((f) => `${t.name}.${f}`));
    const inTable = Object.entries(REACH).flatMap(([type, fields]) => Object.keys(fields).map((f) => `${type}.${f}`));
    expect(
      inSchema.filter((c) => !inTable.includes(c)),
      'fields missing from src/auth/reach.ts',
    ).toEqual([]);
    expect(
      inTable.filter((c) => !inSchema.includes(c)),
      'fields listed in src/auth/reach.ts that the schema lacks',
    ).toEqual([]);
  });

  it("a field missing from the table is the operator's alone (fail closed)", async () => {
    const scratch = new SchemaBuilder<{ Context: { viewer: Viewer }; AuthScopes: { reach: keyof typeof LEVELS } }>({
      plugins: [ScopeAuthPlugin, 'reach'],
      scopeAuth: {
        authScopes: (ctx) => ({ reach: (level) => allows(ctx.viewer, level) }),
        unauthorizedError: (_p, ctx, info) => refusal(ctx.viewer, info.parentType.name, info.fieldName),
      },
    });
    scratch.queryType({ fields: (t) => ({ notInTheTable: t.string({ nullable: true, resolve: () => 'secret' }) }) });
    const built = scratch.toSchema();
    const asOperator = await graphql({ schema: built, source: '{ notInTheTable }', contextValue: { viewer: viewerOf('OPERATOR') } });
    expect(asOperator).toEqual({ data: { notInTheTable: 'secret' } });
    const asAdmin = await graphql({ schema: built, source: '{ notInTheTable }', contextValue: { viewer: viewerOf('ADMIN') } });
    expect(asAdmin.data).toEqual({ notInTheTable: null });
    expect(asAdmin.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN', rule: REACH_RULE, field: 'Query.notInTheTable' });
  });
});

describe('[R-SEC-5] every field × caller is refused or served as the table says', () => {
  for (const type of objectTypes(schema)) {
    it(type.name, async () => {
      for (const field of Object.values(type.getFields())) {
        const coordinate = `${type.name}.${field.name}`;
        for (const principal of PRINCIPALS) {
          const refused = await probe(type, field as GraphQLField<unknown, unknown>, principal);
          const allowed = (LEVELS[reachOf(type.name, field.name)] as readonly Principal[]).includes(principal);
          expect(refused === null, `${coordinate} for ${principal}`).toBe(allowed);
          if (refused) {
            expect(refused.extensions, `${coordinate} for ${principal}`).toMatchObject({
              code: principal === 'ANONYMOUS' ? 'UNAUTHENTICATED' : 'FORBIDDEN',
              field: coordinate,
              rule: REACH_RULE,
            });
            expect(refused.message).toContain(coordinate);
            expect(refused.message).toContain(REACH_RULE);
          }
        }
      }
    });
  }
});

describe('[R-SEC-5] what each role reaches', () => {
  const reachable = (principal: Principal) =>
    Object.entries(REACH)
      .flatMap(([type, fields]) =>
        Object.entries(fields)
          .filter(([, reach]) => reach !== 'public' && (LEVELS[reach] as readonly Principal[]).includes(principal))
          .map(([f]) => `${type}.${f}`),
      )
      .sort();

  it('AGENT_CLIENT: its mutations, its session and their results, who it is, the id and name of its user; nothing else', () => {
    expect(reachable('AGENT_CLIENT')).toEqual(
      [
        'Query.viewer',
        'Viewer.kind',
        'Viewer.organization',
        'Viewer.role',
        'Organization.id',
        'Mutation.startSession',
        'Mutation.heartbeat',
        'Mutation.endSession',
        'Mutation.changeSessionChannels',
        'ChangeSessionChannelsPayload.session',
        'ChangeSessionChannelsPayload.addedChannels',
        'ChangeSessionChannelsPayload.removedChannels',
        'ChangeSessionChannelsPayload.deniedChannels',
        'StartSessionPayload.granted',
        'StartSessionPayload.session',
        'StartSessionPayload.denial',
        'StartSessionPayload.grantedChannels',
        'StartSessionPayload.deniedChannels',
        'HeartbeatPayload.session',
        'EndSessionPayload.session',
        'Denial.code',
        'Denial.message',
        'ChannelDenial.channel',
        'ChannelDenial.code',
        'ChannelDenial.message',
        'Session.id',
        'Session.user',
        'Session.seatKind',
        'Session.startedAt',
        'Session.expiresAt',
        'Session.endedAt',
        'Session.endReason',
        'Session.channels',
        'Session.deviceId',
        'Session.channelUnits',
        'SessionChannelUnit.channel',
        'SessionChannelUnit.product',
        'SessionChannelUnit.kind',
        'User.id',
        'User.name',
      ].sort(),
    );
  });

  it('SUPERVISOR and INTEGRATOR: no secrets (token secrets, tokens), no changes', () => {
    for (const role of ['SUPERVISOR', 'INTEGRATOR'] as const) {
      const fields = reachable(role);
      expect(
        fields.filter(
          (f) => f.startsWith('Mutation.') && !['Mutation.startSession', 'Mutation.heartbeat', 'Mutation.endSession'].includes(f),
        ),
      ).toEqual([]);
      expect(fields.filter((f) => /^(ApiToken|CreateApiTokenPayload|RevokeApiTokenPayload)\./.test(f))).toEqual([]);
    }
    expect(reachOf('CreateApiTokenPayload', 'token')).toBe('admin');
  });

  it('no field anywhere carries a licence key or a token hash', () => {
    // A webhook signing secret is returned once by the mutations that make it (ADMIN), like a new token's secret.
    const webhookSecret = [
      'Mutation.rotateWebhookSecret',
      'CreateWebhookEndpointPayload.secret',
      'RotateWebhookSecretPayload.secret',
      'RotateWebhookSecretPayload.endpoint',
    ];
    for (const coordinate of webhookSecret) expect(reachOf(...(coordinate.split('.') as [string, string]))).toBe('admin');
    const names = objectTypes(schema).flatMap((t) => Object.keys(t.getFields()).map((f) => `${t.name}.${f}`));
    expect(names.filter((n) => /hash|signature|payload$|privateKey|secret/i.test(n) && !webhookSecret.includes(n))).toEqual([]);
  });

  it('seat usage events are executed once for all subscribers: every field under Subscription.seatUsage has one reach for all who may subscribe', () => {
    const subscribers = LEVELS[reachOf('Subscription', 'seatUsage')] as readonly Principal[];
    const seen = new Set<string>();
    const stack = [getNamedType(schema.getSubscriptionType()!.getFields().seatUsage!.type)];
    while (stack.length > 0) {
      const type = stack.pop()!;
      if (!isObjectType(type) || seen.has(type.name)) continue;
      seen.add(type.name);
      for (const field of Object.values(type.getFields())) {
        const level = LEVELS[reachOf(type.name, field.name)] as readonly Principal[];
        expect(
          subscribers.every((p) => level.includes(p)),
          `${type.name}.${field.name}`,
        ).toBe(true);
        stack.push(getNamedType(field.type));
      }
    }
    expect([...seen].sort()).toEqual(['PoolUsage', 'Product', 'ProductSetting', 'Requirement', 'SeatUnitUsage', 'SeatUsage']);
  });
});

describe('README', () => {
  it('the Security section shows the reach table as src/auth/reach.ts has it', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const block = /<!-- reach-table:begin -->\n([\s\S]*?)\n<!-- reach-table:end -->/.exec(readme)?.[1];
    expect(block, 'README.md lacks the reach table between <!-- reach-table:begin --> and <!-- reach-table:end -->').toBeDefined();
    expect(block).toBe(reachMarkdown());
  });
});
