import type { ApiRole } from '../auth/tokens.ts';
import { requireAuthenticated } from '../auth/viewer.ts';
import { pageArgs } from '../schema/args.ts';
import { builder } from '../schema/builder.ts';
import { must } from '../schema/loaders.ts';
import { parsePage, toConnection, type Connection } from '../schema/pagination.ts';
import { ApiTokenRef, NodeRef, OrganizationRef, PageInfoRef } from '../schema/refs.ts';
import { LAST_USED_GRANULARITY_MS } from './token-cache.ts';
import type { ApiToken } from './tokens.repository.ts';
import * as service from './tokens.service.ts';

const ApiRoleEnum = builder.enumType('ApiRole', {
  description: "The role of an organization's API token: which fields it reaches (R-SEC-5) and what it may change.",
  values: {
    ADMIN: { description: 'Everything within one organization.' },
    SUPERVISOR: { description: 'Reads users, licences, usage and events of one organization; subscribes.' },
    INTEGRATOR: { description: 'Reads and subscribes; for systems that integrate with the gateway.' },
    AGENT_CLIENT: { description: "Starts, renews and ends agents' sessions (the ACD or softphone back end)." },
  } satisfies Record<ApiRole, unknown>,
});

ApiTokenRef.implement({
  interfaces: [NodeRef],
  description: "An organization's API token, without its secret or hash (R-SEC-1); the operator or an ADMIN token reads it.",
  fields: (t) => ({
    id: t.exposeID('id', { description: 'The token id (not the secret): pass it to revokeApiToken.' }),
    role: t.field({ type: ApiRoleEnum, description: 'What the token may read and do.', resolve: (k) => k.role }),
    label: t.exposeString('label', { nullable: true, description: 'A name to recognize the token by; null: none given.' }),
    organization: t.field({
      type: OrganizationRef,
      description: 'The organization the token acts for.',
      resolve: (k, _a, ctx) => must(ctx.loaders.organization, k.organizationId, 'organization'),
    }),
    createdAt: t.field({ type: 'DateTime', description: 'When the token was created.', resolve: (k) => k.createdAt }),
    expiresAt: t.field({
      type: 'DateTime',
      nullable: true,
      description: 'From this instant on the token is refused (401) and its live streams end, as when revoked; null: it does not expire.',
      resolve: (k) => k.expiresAt,
    }),
    lastUsedAt: t.field({
      type: 'DateTime',
      nullable: true,
      description: `A recent use, recorded at most once per ${LAST_USED_GRANULARITY_MS / 1000} s per token and instance (so up to that much older than the latest use; a WebSocket counts when it connects); null: never used.`,
      resolve: (k) => k.lastUsedAt,
    }),
    revokedAt: t.field({
      type: 'DateTime',
      nullable: true,
      description: 'When revokeApiToken revoked it; null: not revoked.',
      resolve: (k) => k.revokedAt,
    }),
  }),
});

const ApiTokenEdgeRef = builder.objectRef<Connection<ApiToken>['edges'][number]>('ApiTokenEdge').implement({
  description: 'One API token of a page, with the cursor to continue after it.',
  fields: (t) => ({
    cursor: t.exposeString('cursor', { description: 'Pass as `after` to get the tokens that follow this one.' }),
    node: t.field({ type: ApiTokenRef, description: 'The token (never its secret or hash).', resolve: (e) => e.node }),
  }),
});

const ApiTokenConnectionRef = builder.objectRef<Connection<ApiToken>>('ApiTokenConnection').implement({
  description: "A page of an organization's API tokens, newest first.",
  fields: (t) => ({
    edges: t.field({ type: [ApiTokenEdgeRef], description: 'The tokens of this page.', resolve: (c) => c.edges }),
    pageInfo: t.field({
      type: PageInfoRef,
      description: 'Whether more tokens follow, and the cursor to ask for them.',
      resolve: (c) => c.pageInfo,
    }),
  }),
});

builder.objectFields(OrganizationRef, (t) => ({
  apiTokens: t.field({
    type: ApiTokenConnectionRef,
    description:
      "The organization's API tokens, newest first, revoked and expired ones included (never their secrets or hashes); the operator or an ADMIN token.",
    args: pageArgs(t.arg),
    resolve: async (org, args, ctx) => {
      const page = parsePage(args);
      return toConnection(await service.listApiTokens(ctx, org.id, page), page);
    },
  }),
}));

const CreateApiTokenInput = builder.inputType('CreateApiTokenInput', {
  description: 'A new API token.',
  fields: (t) => ({
    organizationId: t.id({ description: 'The organization the token acts for.' }),
    role: t.field({ type: ApiRoleEnum, description: 'What the token may read and do.' }),
    label: t.string({ required: false, description: 'A name to recognize the token by, at most 200 characters; none by default.' }),
    expiresAt: t.field({
      type: 'DateTime',
      required: false,
      description: `When the token stops working: in the future, at most ${service.MAX_TOKEN_LIFETIME_DAYS} days ahead. Give this or expiresInDays, or neither (no expiry).`,
    }),
    expiresInDays: t.int({
      required: false,
      description: `The token stops working this many days from now (1..${service.MAX_TOKEN_LIFETIME_DAYS}).`,
    }),
  }),
});

const RevokeApiTokenInput = builder.inputType('RevokeApiTokenInput', {
  description: 'The token to revoke.',
  fields: (t) => ({ apiTokenId: t.id({ description: 'The id of the token (ApiToken.id), not its secret.' }) }),
});

const CreateApiTokenPayload = builder.objectRef<{ token: string; apiToken: ApiToken }>('CreateApiTokenPayload').implement({
  description: 'Result of createApiToken.',
  fields: (t) => ({
    token: t.exposeString('token', { description: 'The secret, shown this once; only its hash is stored.' }),
    apiToken: t.field({ type: ApiTokenRef, description: 'The token created, without its secret.', resolve: (p) => p.apiToken }),
  }),
});

const RevokeApiTokenPayload = builder.objectRef<{ apiTokenId: string }>('RevokeApiTokenPayload').implement({
  description: 'Result of revokeApiToken.',
  fields: (t) => ({
    apiTokenId: t.exposeID('apiTokenId', { description: 'The id of the token revoked.' }),
    apiToken: t.field({
      type: ApiTokenRef,
      nullable: true,
      description: 'The token as it is now, with its revokedAt (for the admin screen to update its row).',
      resolve: async (p, _a, ctx) => (await service.apiTokenById(ctx, p.apiTokenId)) ?? null,
    }),
  }),
});

builder.mutationFields((t) => ({
  createApiToken: t.field({
    type: CreateApiTokenPayload,
    description: 'The operator, or an ADMIN token of the organization, creates a token. The secret is returned once.',
    args: { input: t.arg({ type: CreateApiTokenInput, required: true, description: 'Organization, role, label and expiry.' }) },
    resolve: (_root, { input }, ctx) => service.createApiToken(ctx, input),
  }),
  revokeApiToken: t.field({
    type: RevokeApiTokenPayload,
    description:
      'Takes effect at once on every instance: the token is refused (401) and its open WebSocket connections (closed with 4403) and SSE streams end.',
    args: { input: t.arg({ type: RevokeApiTokenInput, required: true, description: 'The token to revoke.' }) },
    resolve: async (_root, { input }, ctx) => ({ apiTokenId: await service.revokeApiToken(ctx, input) }),
  }),
}));

const ViewerKindEnum = builder.enumType('ViewerKind', {
  description: 'Whether the caller is the platform operator or an organization token.',
  values: {
    OPERATOR: { description: 'The platform operator (OPERATOR_TOKEN).' },
    TOKEN: { description: "An organization's API token." },
  },
});

const ViewerRef = builder
  .objectRef<{ kind: 'OPERATOR' | 'TOKEN'; role: ApiRole | null; organizationId: string | null }>('Viewer')
  .implement({
    description: 'Who the token belongs to: the platform operator, or an organization API token with its role.',
    fields: (t) => ({
      kind: t.field({ type: ViewerKindEnum, description: 'OPERATOR or TOKEN.', resolve: (v) => v.kind }),
      role: t.field({
        type: ApiRoleEnum,
        nullable: true,
        description: "The token's role; null for the operator.",
        resolve: (v) => v.role,
      }),
      organization: t.field({
        type: OrganizationRef,
        nullable: true,
        description: "The token's organization (an AGENT_CLIENT token reads only its id); null for the operator.",
        resolve: (v, _a, ctx) => (v.organizationId ? must(ctx.loaders.organization, v.organizationId, 'organization') : null),
      }),
    }),
  });

builder.queryFields((t) => ({
  viewer: t.field({
    type: ViewerRef,
    description: 'The caller (the dashboard uses it to find the organization of the token entered).',
    resolve: (_root, _args, ctx) => {
      requireAuthenticated(ctx.viewer);
      return ctx.viewer.kind === 'operator'
        ? { kind: 'OPERATOR' as const, role: null, organizationId: null }
        : { kind: 'TOKEN' as const, role: ctx.viewer.role, organizationId: ctx.viewer.organizationId };
    },
  }),
}));
