import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../../src/ids.ts';
import { sql } from 'kysely';
import * as migration0007 from '../../migrations/2026_12_01_0007_token_expiry.ts';
import { DATABASES, freshDatabase } from '../support/databases.ts';
import { openDatabase } from '../../src/db/database.ts';
import type { TokenCacheOptions } from '../../src/tokens/token-cache.ts';
import { codeOf, createOrg, OPERATOR_TOKEN, startGateway, type OrgFixture, type Result, type TestGateway } from '../support/gateway.ts';

/*
 * API tokens through the real GraphQL handler and a real database (SPEC §6,
 * R-SEC-1, R-SEC-2): the secret is shown once and only its SHA-256 is stored,
 * tokens carry one role, work at once and stop working when revoked.
 */

// ------------------------------------------------------------------ documents

const CREATE_TOKEN = `mutation($input: CreateApiTokenInput!) {
  createApiToken(input: $input) { token apiToken { id role label createdAt organization { id name } } }
}`;
const REVOKE_TOKEN = `mutation($input: RevokeApiTokenInput!) { revokeApiToken(input: $input) { apiTokenId } }`;
const ORGANIZATION = `query($id: ID!) { organization(id: $id) { id name } }`;
const CREATE_SITE = `mutation($input: CreateSiteInput!) { createSite(input: $input) { site { id } } }`;
const CATALOGS = `{ catalogs { code } }`;

// ------------------------------------------------------------------ helpers

/** [R-API-1] Nothing internal in a response: no stack trace, no file positions, no SQL. */
function expectNoLeak(result: unknown): void {
  const text = JSON.stringify(result);
  expect(text).not.toMatch(/at .*\.ts:\d+/);
  expect(text).not.toMatch(/select |insert into|update .* set/i);
  expect(text).not.toMatch(/stack/);
}

/** One error of `code`, naming `field` where given; nothing leaked; UNAUTHENTICATED is HTTP 401. */
function expectError(result: Result, code: string, expected: { field?: string; message?: RegExp } = {}): void {
  expectNoLeak(result);
  expect(result.errors, JSON.stringify(result)).toHaveLength(1);
  const error = result.errors![0]!;
  expect(error.extensions?.code, error.message).toBe(code);
  if (expected.field !== undefined) {
    expect(error.extensions?.field).toBe(expected.field);
    expect(error.message).toContain(expected.field);
  }
  if (expected.message) expect(error.message).toMatch(expected.message);
  if (code === 'UNAUTHENTICATED') expect(result.status).toBe(401);
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

interface CreatedToken {
  token: string;
  apiToken: { id: string; role: string; label: string | null; createdAt: string; organization: { id: string; name: string } };
}

async function createToken(
  gw: TestGateway,
  organizationId: string,
  role: string,
  label?: string | null,
  token: string = OPERATOR_TOKEN,
): Promise<CreatedToken> {
  const data = await gw.ok(CREATE_TOKEN, { input: { organizationId, role, label } }, token);
  return data.createApiToken;
}

async function revoke(gw: TestGateway, apiTokenId: string, token: string | null = OPERATOR_TOKEN): Promise<Result> {
  return gw.gql(REVOKE_TOKEN, { input: { apiTokenId } }, token);
}

/** A request with an Authorization header exactly as given (null: none). */
async function withAuthorization(
  gw: TestGateway,
  authorization: string | null,
  query: string,
  variables: Record<string, unknown> = {},
): Promise<Result> {
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/graphql-response+json' };
  if (authorization !== null) headers.authorization = authorization;
  const response = await gw.app.yoga.fetch('http://gateway.test/graphql', {
    method: 'POST',
    headers,
    body: JSON.stringify({ query, variables }),
  });
  return { ...((await response.json()) as object), status: response.status } as Result;
}

async function tokenRow(gw: TestGateway, id: string) {
  return gw.database.db.selectFrom('api_tokens').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
}

async function counts(gw: TestGateway): Promise<{ tokens: number; events: number }> {
  const tokens = await gw.database.db
    .selectFrom('api_tokens')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  const events = await gw.database.db
    .selectFrom('events')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return { tokens: Number(tokens.n), events: Number(events.n) };
}

// ------------------------------------------------------------------ suites

describe.skipIf(DATABASES.length === 0)('API tokens', () => {
  for (const kind of DATABASES) {
    describe(kind, () => {
      let gw: TestGateway;
      let fx: OrgFixture;
      let other: OrgFixture;

      beforeAll(async () => {
        gw = await startGateway(kind);
        fx = await createOrg(gw, 'innoacd', 'Token Org');
        other = await createOrg(gw, 'innoacd', 'Other Token Org');
      });

      afterAll(async () => {
        await gw?.close();
      });

      // -------------------------------------------------------------- creation

      it('[R-SEC-1] createApiToken returns the secret once, with the ApiToken fields', async () => {
        const created = await createToken(gw, fx.organizationId, 'INTEGRATOR', '  CRM bridge ');
        expect(created.token).toMatch(/^lgw_[A-Za-z0-9_-]{43}$/);
        expect(created.apiToken).toEqual({
          id: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/),
          role: 'INTEGRATOR',
          label: 'CRM bridge',
          createdAt: gw.clock.now().toISOString(),
          organization: { id: fx.organizationId, name: 'Token Org' },
        });

        const again = await createToken(gw, fx.organizationId, 'INTEGRATOR', 'CRM bridge');
        expect(again.token).not.toBe(created.token);
        expect(again.apiToken.id).not.toBe(created.apiToken.id);
      });

      it('[R-SEC-1] an ApiToken exposes neither the secret nor its hash', async () => {
        const result = await gw.gql(`{ __type(name: "ApiToken") { fields { name } } }`);
        const fields = result.data!.__type.fields.map((f: { name: string }) => f.name).sort();
        expect(fields).toEqual(['createdAt', 'expiresAt', 'id', 'label', 'lastUsedAt', 'organization', 'revokedAt', 'role']);
      });

      it('[R-SEC-1] a label is optional; a blank label is none', async () => {
        expect((await createToken(gw, fx.organizationId, 'SUPERVISOR')).apiToken.label).toBeNull();
        expect((await createToken(gw, fx.organizationId, 'SUPERVISOR', '   ')).apiToken.label).toBeNull();
      });

      it('[R-SEC-1] the database stores only the SHA-256 hash of the secret', async () => {
        const created = await createToken(gw, fx.organizationId, 'ADMIN', 'hash check');
        const row = await tokenRow(gw, created.apiToken.id);
        expect(row.token_hash).toBe(sha256(created.token));
        expect(row).toMatchObject({ organization_id: fx.organizationId, role: 'ADMIN', label: 'hash check', revoked_at: null });

        // The secret (or its random part) appears in no column of any token row, nor in the event log.
        const randomPart = created.token.slice('lgw_'.length);
        const tokens = JSON.stringify(await gw.database.db.selectFrom('api_tokens').selectAll().execute());
        const events = JSON.stringify(await gw.database.db.selectFrom('events').selectAll().execute());
        for (const text of [tokens, events]) {
          expect(text).not.toContain(randomPart);
        }
        expect(events).toContain(created.apiToken.id);
      });

      it('[R-SEC-1] the new token works at once, with its role', async () => {
        const supervisor = await createToken(gw, fx.organizationId, 'SUPERVISOR', 'reader');
        const read = await gw.gql(ORGANIZATION, { id: fx.organizationId }, supervisor.token);
        expect(read.errors).toBeUndefined();
        expect(read.data).toEqual({ organization: { id: fx.organizationId, name: 'Token Org' } });

        const write = await gw.gql(CREATE_SITE, { input: { organizationId: fx.organizationId, name: 'Not allowed' } }, supervisor.token);
        expectError(write, 'FORBIDDEN', { message: /role SUPERVISOR may not change this/ });
      });

      it('[R-SEC-1] ADMIN may create tokens of every role for its own organization; the event names the creating token', async () => {
        const admin = await createToken(gw, fx.organizationId, 'ADMIN', 'delegating admin');
        for (const role of ['ADMIN', 'SUPERVISOR', 'INTEGRATOR', 'AGENT_CLIENT']) {
          const created = await createToken(gw, fx.organizationId, role, `by admin ${role}`, admin.token);
          expect(created.apiToken).toMatchObject({ role, organization: { id: fx.organizationId } });
          const event = await gw.database.db
            .selectFrom('events')
            .selectAll()
            .where('type', '=', 'API_TOKEN_CREATED')
            .where('detail', 'like', `%${created.apiToken.id}%`)
            .executeTakeFirstOrThrow();
          expect(event).toMatchObject({
            organization_id: fx.organizationId,
            actor: `token:${admin.apiToken.id}`,
            api_token_id: admin.apiToken.id,
          });
        }
      });

      it.each(['SUPERVISOR', 'INTEGRATOR', 'AGENT_CLIENT'] as const)(
        '[R-SEC-1] a %s token may neither create nor revoke tokens',
        async (role) => {
          const victim = await createToken(gw, fx.organizationId, 'INTEGRATOR', 'victim');
          const before = await counts(gw);
          expectError(
            await gw.gql(CREATE_TOKEN, { input: { organizationId: fx.organizationId, role: 'ADMIN' } }, fx.tokens[role]),
            'FORBIDDEN',
            {
              message: new RegExp(`role ${role} may not change this; needs ADMIN`),
            },
          );
          expectError(await revoke(gw, victim.apiToken.id, fx.tokens[role]), 'FORBIDDEN');
          expect(await counts(gw)).toEqual(before);
          expect((await tokenRow(gw, victim.apiToken.id)).revoked_at).toBeNull();
        },
      );

      it('[R-SEC-1] without a token createApiToken and revokeApiToken are UNAUTHENTICATED (401)', async () => {
        const victim = await createToken(gw, fx.organizationId, 'INTEGRATOR');
        expectError(await gw.gql(CREATE_TOKEN, { input: { organizationId: fx.organizationId, role: 'ADMIN' } }, null), 'UNAUTHENTICATED');
        expectError(await revoke(gw, victim.apiToken.id, null), 'UNAUTHENTICATED');
        expect((await tokenRow(gw, victim.apiToken.id)).revoked_at).toBeNull();
      });

      // -------------------------------------------------------------- input errors

      it('[R-API-1][R-API-2] a label with control characters or over 200 characters is refused and nothing is stored', async () => {
        const before = await counts(gw);
        for (const label of ['bad\u0000label', 'tab\tinside', 'l'.repeat(201)]) {
          const result = await gw.gql(CREATE_TOKEN, { input: { organizationId: fx.organizationId, role: 'ADMIN', label } });
          expectError(result, 'BAD_USER_INPUT', { field: 'input.label' });
          expect(result.data).toBeNull();
        }
        expect(await counts(gw)).toEqual(before);
      });

      it('[R-API-1] an unknown or malformed organization is NOT_FOUND; so is an unknown or malformed token id', async () => {
        for (const id of [newId(), 'not-an-id']) {
          expectError(await gw.gql(CREATE_TOKEN, { input: { organizationId: id, role: 'ADMIN' } }), 'NOT_FOUND', {
            message: new RegExp(`^organization ${id} not found$`),
          });
          expectError(await revoke(gw, id), 'NOT_FOUND', { message: new RegExp(`^API token ${id} not found$`) });
        }
      });

      // -------------------------------------------------------------- revocation

      it('[R-SEC-1] after revokeApiToken the token is UNAUTHENTICATED at once, even for catalogs', async () => {
        const created = await createToken(gw, fx.organizationId, 'SUPERVISOR', 'to revoke');
        expect((await gw.gql(ORGANIZATION, { id: fx.organizationId }, created.token)).errors).toBeUndefined();

        const result = await revoke(gw, created.apiToken.id);
        expect(result.errors).toBeUndefined();
        expect(result.data).toEqual({ revokeApiToken: { apiTokenId: created.apiToken.id } });
        expect((await tokenRow(gw, created.apiToken.id)).revoked_at).toEqual(gw.clock.now());

        const read = await gw.gql(ORGANIZATION, { id: fx.organizationId }, created.token);
        expectError(read, 'UNAUTHENTICATED', { message: /unknown or revoked/ });
        // A revoked token never degrades to anonymous access.
        expectError(await gw.gql(CATALOGS, {}, created.token), 'UNAUTHENTICATED');
      });

      /** A second gateway on the same database: its own process state (token cache), the same rows. */
      async function secondInstance(tokenCache: TokenCacheOptions): Promise<TestGateway> {
        if (kind === 'pglite') return startGateway(kind, { database: { ...gw.database, dispose: async () => undefined }, tokenCache });
        const handle = await openDatabase({ databaseUrl: gw.database.url, dataDir: null, poolSize: 2 });
        return startGateway(kind, { database: { ...handle, url: gw.database.url, dispose: () => handle.close() }, tokenCache });
      }

      /** Polls `check` (every 10 ms, at most 5 s): for effects that travel by NOTIFY, asynchronously. */
      async function until(check: () => Promise<boolean>): Promise<void> {
        for (let i = 0; i < 500; i++) {
          if (await check()) return;
          await new Promise((r) => setTimeout(r, 10));
        }
        throw new Error('condition not reached within 5 s');
      }

      it('[R-SEC-1] a token revoked through another instance stops working on this one although it was cached here (the revocation NOTIFY reaches every cache)', async () => {
        // An hour's TTL: only the notice can make this instance forget the token within the test.
        const other = await secondInstance({ ttlMs: 3_600_000 });
        try {
          const created = await createToken(gw, fx.organizationId, 'SUPERVISOR', 'cached elsewhere');
          await until(async () => {
            expect((await other.gql(ORGANIZATION, { id: fx.organizationId }, created.token)).errors).toBeUndefined();
            return other.app.tokens.size > 0; // cached once the instance LISTENs for revocations
          });
          expect((await revoke(gw, created.apiToken.id)).errors).toBeUndefined();
          await until(async () => codeOf(await other.gql(ORGANIZATION, { id: fx.organizationId }, created.token)) === 'UNAUTHENTICATED');
          expectError(await other.gql(CATALOGS, {}, created.token), 'UNAUTHENTICATED');
          expect(other.app.tokens.size).toBe(0);
        } finally {
          await other.close();
        }
      });

      it('[R-SEC-1] a revocation written past the gateway (SQL by hand, no notice) takes effect when the cached entry expires', async () => {
        let now = 0;
        const other = await secondInstance({ ttlMs: 10_000, now: () => now });
        try {
          const created = await createToken(gw, fx.organizationId, 'SUPERVISOR', 'revoked by hand');
          await until(async () => {
            expect((await other.gql(ORGANIZATION, { id: fx.organizationId }, created.token)).errors).toBeUndefined();
            return other.app.tokens.size > 0;
          });
          await gw.database.db
            .updateTable('api_tokens')
            .set({ revoked_at: gw.clock.now() })
            .where('id', '=', created.apiToken.id)
            .execute();
          // Within the TTL the cached entry still answers (documented: this is what the NOTIFY is for) ...
          now = 9_999;
          expect((await other.gql(ORGANIZATION, { id: fx.organizationId }, created.token)).errors).toBeUndefined();
          // ... after it, the token is read again and refused.
          now = 10_000;
          expectError(await other.gql(ORGANIZATION, { id: fx.organizationId }, created.token), 'UNAUTHENTICATED');
        } finally {
          await other.close();
        }
      });

      it('[R-SEC-1] revoking twice is fine: same answer, the first revocation time and event stay', async () => {
        const created = await createToken(gw, fx.organizationId, 'INTEGRATOR', 'twice');
        expect((await revoke(gw, created.apiToken.id, fx.admin)).errors).toBeUndefined();
        const revokedAt = (await tokenRow(gw, created.apiToken.id)).revoked_at;
        expect(revokedAt).not.toBeNull();

        gw.clock.advance(60_000);
        const again = await revoke(gw, created.apiToken.id, fx.admin);
        expect(again.errors).toBeUndefined();
        expect(again.data).toEqual({ revokeApiToken: { apiTokenId: created.apiToken.id } });
        expect((await tokenRow(gw, created.apiToken.id)).revoked_at).toEqual(revokedAt);

        const events = await gw.database.db
          .selectFrom('events')
          .select('id')
          .where('type', '=', 'API_TOKEN_REVOKED')
          .where('detail', '=', created.apiToken.id)
          .execute();
        expect(events).toHaveLength(1);
      });

      it('[R-SEC-1] an ADMIN token may revoke itself and then stops working', async () => {
        const admin = await createToken(gw, fx.organizationId, 'ADMIN', 'self-revoking');
        expect((await revoke(gw, admin.apiToken.id, admin.token)).errors).toBeUndefined();
        expectError(await gw.gql(ORGANIZATION, { id: fx.organizationId }, admin.token), 'UNAUTHENTICATED');
        expectError(
          await gw.gql(CREATE_TOKEN, { input: { organizationId: fx.organizationId, role: 'ADMIN' } }, admin.token),
          'UNAUTHENTICATED',
        );
      });

      it("[R-SEC-1] revoking one token leaves the organization's other tokens working", async () => {
        const a = await createToken(gw, fx.organizationId, 'SUPERVISOR', 'a');
        const b = await createToken(gw, fx.organizationId, 'SUPERVISOR', 'b');
        await revoke(gw, a.apiToken.id);
        expectError(await gw.gql(ORGANIZATION, { id: fx.organizationId }, a.token), 'UNAUTHENTICATED');
        expect((await gw.gql(ORGANIZATION, { id: fx.organizationId }, b.token)).errors).toBeUndefined();
      });

      // -------------------------------------------------------------- expiry

      const LIST = `query($id: ID!, $first: Int, $after: String) {
        organization(id: $id) { apiTokens(first: $first, after: $after) {
          edges { cursor node { id label role createdAt lastUsedAt expiresAt revokedAt } }
          pageInfo { hasNextPage endCursor }
        } }
      }`;
      const CREATE_EXPIRING = `mutation($input: CreateApiTokenInput!) { createApiToken(input: $input) { token apiToken { id expiresAt lastUsedAt revokedAt } } }`;

      it('[TOKEN-EXPIRY] a token may carry an expiry (expiresAt or expiresInDays); without one it never expires', async () => {
        const now = gw.clock.now().getTime();
        const at = new Date(now + 3_600_000).toISOString();
        const byDate = await gw.ok(CREATE_EXPIRING, { input: { organizationId: fx.organizationId, role: 'SUPERVISOR', expiresAt: at } });
        expect(byDate.createApiToken.apiToken).toMatchObject({ expiresAt: at, lastUsedAt: null, revokedAt: null });
        const byDays = await gw.ok(CREATE_EXPIRING, {
          input: { organizationId: fx.organizationId, role: 'SUPERVISOR', expiresInDays: 30 },
        });
        expect(byDays.createApiToken.apiToken.expiresAt).toBe(new Date(now + 30 * 86_400_000).toISOString());
        expect((await tokenRow(gw, byDays.createApiToken.apiToken.id)).expires_at).toEqual(new Date(now + 30 * 86_400_000));
        const never = await gw.ok(CREATE_EXPIRING, { input: { organizationId: fx.organizationId, role: 'SUPERVISOR' } });
        expect(never.createApiToken.apiToken.expiresAt).toBeNull();
        // The longest lifetime is accepted.
        const longest = await gw.ok(CREATE_EXPIRING, {
          input: { organizationId: fx.organizationId, role: 'SUPERVISOR', expiresInDays: 3650 },
        });
        expect(longest.createApiToken.apiToken.expiresAt).toBe(new Date(now + 3650 * 86_400_000).toISOString());
      });

      it('[TOKEN-EXPIRY] a past, present, absurd or doubly given expiry is BAD_USER_INPUT naming the field, and nothing is stored', async () => {
        const now = gw.clock.now().getTime();
        const before = await counts(gw);
        const cases: [Record<string, unknown>, string][] = [
          [{ expiresAt: new Date(now - 1).toISOString() }, 'input.expiresAt'],
          [{ expiresAt: new Date(now).toISOString() }, 'input.expiresAt'],
          [{ expiresAt: new Date(now + 3651 * 86_400_000).toISOString() }, 'input.expiresAt'],
          [{ expiresAt: '9999-12-31T23:59:59Z' }, 'input.expiresAt'],
          [{ expiresInDays: 0 }, 'input.expiresInDays'],
          [{ expiresInDays: -5 }, 'input.expiresInDays'],
          [{ expiresInDays: 3651 }, 'input.expiresInDays'],
          [{ expiresInDays: 2_000_000_000 }, 'input.expiresInDays'],
          [{ expiresInDays: 7, expiresAt: new Date(now + 86_400_000).toISOString() }, 'input.expiresInDays'],
        ];
        for (const [extra, field] of cases) {
          const result = await gw.gql(CREATE_EXPIRING, { input: { organizationId: fx.organizationId, role: 'ADMIN', ...extra } });
          expectError(result, 'BAD_USER_INPUT', { field });
          expect(result.data).toBeNull();
        }
        // Not a date at all: refused by the DateTime scalar.
        expect(
          codeOf(await gw.gql(CREATE_EXPIRING, { input: { organizationId: fx.organizationId, role: 'ADMIN', expiresAt: 'tomorrow' } })),
        ).toBe('BAD_USER_INPUT');
        expect(await counts(gw)).toEqual(before);
      });

      it('[TOKEN-EXPIRY] an expired token gets 401 like a revoked one, from the instant of its expiry (even when cached)', async () => {
        const expiresAt = new Date(gw.clock.now().getTime() + 60_000);
        const created = await gw.ok(CREATE_EXPIRING, {
          input: { organizationId: fx.organizationId, role: 'SUPERVISOR', expiresAt: expiresAt.toISOString() },
        });
        const token = created.createApiToken.token as string;
        expect((await gw.gql(ORGANIZATION, { id: fx.organizationId }, token)).errors).toBeUndefined();
        gw.clock.set(new Date(expiresAt.getTime() - 1));
        expect((await gw.gql(ORGANIZATION, { id: fx.organizationId }, token)).errors).toBeUndefined();
        gw.clock.set(expiresAt);
        expectError(await gw.gql(ORGANIZATION, { id: fx.organizationId }, token), 'UNAUTHENTICATED', { message: /expired/ });
        expectError(await gw.gql(CATALOGS, {}, token), 'UNAUTHENTICATED');
      });

      // -------------------------------------------------------------- last use

      interface Listed {
        id: string;
        lastUsedAt: string | null;
        revokedAt: string | null;
        expiresAt: string | null;
      }
      interface ListPage {
        organization: { apiTokens: { edges: { node: Listed }[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } } };
      }

      async function listed(id: string): Promise<Listed> {
        for (let after: string | null = null; ; ) {
          const data: ListPage = await gw.ok<ListPage>(LIST, { id: fx.organizationId, first: 500, after });
          const found = data.organization.apiTokens.edges.find((e) => e.node.id === id);
          if (found) return found.node;
          if (!data.organization.apiTokens.pageInfo.hasNextPage) throw new Error(`token ${id} not listed`);
          after = data.organization.apiTokens.pageInfo.endCursor;
        }
      }

      it('[TOKEN-LAST-USED] lastUsedAt records a use, written at most once a minute per token', async () => {
        const created = await createToken(gw, fx.organizationId, 'SUPERVISOR', 'used');
        expect((await listed(created.apiToken.id)).lastUsedAt).toBeNull();
        const first = gw.clock.now();
        await gw.ok(ORGANIZATION, { id: fx.organizationId }, created.token);
        expect((await listed(created.apiToken.id)).lastUsedAt).toBe(first.toISOString());
        // Within the minute: no write (the stored value stays).
        gw.clock.advance(59_000);
        await gw.ok(ORGANIZATION, { id: fx.organizationId }, created.token);
        expect((await tokenRow(gw, created.apiToken.id)).last_used_at).toEqual(first);
        // A minute on: the next use is recorded.
        gw.clock.advance(1_000);
        await gw.ok(ORGANIZATION, { id: fx.organizationId }, created.token);
        expect((await listed(created.apiToken.id)).lastUsedAt).toBe(gw.clock.now().toISOString());
        // A refused (revoked) token records nothing.
        await revoke(gw, created.apiToken.id);
        const usedAt = (await tokenRow(gw, created.apiToken.id)).last_used_at;
        gw.clock.advance(120_000);
        expectError(await gw.gql(ORGANIZATION, { id: fx.organizationId }, created.token), 'UNAUTHENTICATED');
        expect((await tokenRow(gw, created.apiToken.id)).last_used_at).toEqual(usedAt);
      });

      it('[TOKEN-LAST-USED] a use on another instance is recorded too, once per minute whichever instance writes', async () => {
        const peer = await secondInstance({ ttlMs: 3_600_000 });
        try {
          const created = await createToken(gw, fx.organizationId, 'INTEGRATOR', 'two instances');
          peer.clock.set(gw.clock.now());
          await peer.ok(ORGANIZATION, { id: fx.organizationId }, created.token);
          expect((await tokenRow(gw, created.apiToken.id)).last_used_at).toEqual(peer.clock.now());
          // This instance's use 30 s later finds a fresh stored value: nothing written.
          gw.clock.set(new Date(peer.clock.now().getTime() + 30_000));
          await gw.ok(ORGANIZATION, { id: fx.organizationId }, created.token);
          expect((await tokenRow(gw, created.apiToken.id)).last_used_at).toEqual(peer.clock.now());
        } finally {
          await peer.close();
        }
      });

      // -------------------------------------------------------------- listing

      it("[TOKEN-LIST] ADMIN lists its organization's tokens newest first, paginated, with revocation, expiry and last use, never the hash", async () => {
        const org = await createOrg(gw, 'innoacd', 'Listing Org');
        const made: string[] = [];
        for (const label of ['one', 'two', 'three'])
          made.push((await createToken(gw, org.organizationId, 'INTEGRATOR', label)).apiToken.id);
        await revoke(gw, made[0]!);
        const all: { id: string; label: string | null; revokedAt: string | null }[] = [];
        let after: string | null = null;
        let pages = 0;
        for (;;) {
          const result: Result = await gw.gql(LIST, { id: org.organizationId, first: 2, after }, org.admin);
          expect(result.errors).toBeUndefined();
          const connection = result.data!.organization.apiTokens;
          expect(connection.edges.length).toBeLessThanOrEqual(2);
          all.push(...connection.edges.map((e: { node: { id: string; label: string | null; revokedAt: string | null } }) => e.node));
          pages++;
          if (!connection.pageInfo.hasNextPage) break;
          after = connection.pageInfo.endCursor;
        }
        // The fixture's four tokens (one per role) and the three made here, newest first.
        expect(all).toHaveLength(7);
        expect(pages).toBe(4);
        expect(all.slice(0, 3).map((t) => t.id)).toEqual([...made].reverse());
        expect(all.map((t) => t.id)).toEqual([...all.map((t) => t.id)].sort().reverse());
        expect(all.find((t) => t.id === made[0])!.revokedAt).toBe(gw.clock.now().toISOString());
        expect(all.find((t) => t.id === made[1])!.revokedAt).toBeNull();
        // The operator lists them too; nothing of the secret or its hash appears.
        const operator = await gw.gql(LIST, { id: org.organizationId, first: 50 });
        expect(operator.data!.organization.apiTokens.edges).toHaveLength(7);
        const rows = await gw.database.db
          .selectFrom('api_tokens')
          .select('token_hash')
          .where('organization_id', '=', org.organizationId)
          .execute();
        for (const { token_hash } of rows) expect(JSON.stringify(operator)).not.toContain(token_hash);
        // A bad page size or cursor is refused as for every connection.
        expectError(await gw.gql(LIST, { id: org.organizationId, first: 501 }, org.admin), 'BAD_USER_INPUT', { field: 'first' });
        expectError(await gw.gql(LIST, { id: org.organizationId, first: 1, after: 'nope' }, org.admin), 'BAD_USER_INPUT', {
          field: 'after',
        });
      });

      it.each(['SUPERVISOR', 'INTEGRATOR', 'AGENT_CLIENT'] as const)(
        '[TOKEN-LIST] a %s token may not list the tokens (FORBIDDEN)',
        async (role) => {
          const result = await gw.gql(LIST, { id: fx.organizationId, first: 10 }, fx.tokens[role]);
          expectError(result, 'FORBIDDEN');
          expect(result.data).toEqual({ organization: null });
        },
      );

      it("[TOKEN-LIST][R-SEC-2] another organization's ADMIN gets NOT_FOUND", async () => {
        expectError(await gw.gql(LIST, { id: fx.organizationId, first: 10 }, other.admin), 'NOT_FOUND');
      });

      // -------------------------------------------------------------- isolation

      it("[R-SEC-2] another organization's ADMIN cannot create or revoke this organization's tokens: NOT_FOUND as for a missing id", async () => {
        const victim = await createToken(gw, fx.organizationId, 'INTEGRATOR', 'victim');
        const before = await counts(gw);

        const shape = (result: Result, id: string) => ({
          status: result.status,
          data: result.data,
          code: result.errors?.[0]?.extensions?.code,
          message: result.errors?.[0]?.message.replace(id, '<id>'),
        });

        const foreignCreate = await gw.gql(CREATE_TOKEN, { input: { organizationId: fx.organizationId, role: 'ADMIN' } }, other.admin);
        expectError(foreignCreate, 'NOT_FOUND');
        for (const id of [newId(), 'garbage']) {
          const missing = await gw.gql(CREATE_TOKEN, { input: { organizationId: id, role: 'ADMIN' } }, other.admin);
          expect(shape(missing, id)).toEqual(shape(foreignCreate, fx.organizationId));
        }

        const foreignRevoke = await revoke(gw, victim.apiToken.id, other.admin);
        expectError(foreignRevoke, 'NOT_FOUND');
        for (const id of [newId(), 'garbage']) {
          expect(shape(await revoke(gw, id, other.admin), id)).toEqual(shape(foreignRevoke, victim.apiToken.id));
        }

        expect(await counts(gw)).toEqual(before);
        expect((await tokenRow(gw, victim.apiToken.id)).revoked_at).toBeNull();
      });

      it('[R-SEC-2] a token reads only its own organization', async () => {
        const own = await gw.gql(ORGANIZATION, { id: other.organizationId }, other.tokens.SUPERVISOR);
        expect(own.errors).toBeUndefined();
        const foreign = await gw.gql(ORGANIZATION, { id: fx.organizationId }, other.tokens.SUPERVISOR);
        expectError(foreign, 'NOT_FOUND', { message: new RegExp(`^organization ${fx.organizationId} not found$`) });
        expect(foreign.data).toEqual({ organization: null });
      });

      // -------------------------------------------------------------- the Authorization header

      describe('[R-SEC-1] the Authorization header', () => {
        it('accepts "Bearer <token>" with any case of the scheme and surrounding spaces', async () => {
          for (const header of [
            `Bearer ${fx.tokens.SUPERVISOR}`,
            `bearer ${fx.tokens.SUPERVISOR}`,
            `  BEARER   ${fx.tokens.SUPERVISOR}  `,
          ]) {
            const result = await withAuthorization(gw, header, ORGANIZATION, { id: fx.organizationId });
            expect(result.errors, header).toBeUndefined();
            expect(result.status).toBe(200);
          }
        });

        it('refuses other schemes, a missing secret, extra words and unknown secrets with UNAUTHENTICATED (401)', async () => {
          const headers = [
            `Basic ${Buffer.from('user:pass').toString('base64')}`,
            'Bearer',
            `Bearer ${fx.tokens.SUPERVISOR} extra`,
            `${fx.tokens.SUPERVISOR}`,
            'Bearer lgw_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
            `Bearer ${OPERATOR_TOKEN}x`,
            `Bearer ${sha256(fx.tokens.SUPERVISOR)}`,
          ];
          for (const header of headers) {
            for (const query of [ORGANIZATION, CATALOGS]) {
              const result = await withAuthorization(gw, header, query, { id: fx.organizationId });
              expectError(result, 'UNAUTHENTICATED');
              expect(result.status, header).toBe(401);
            }
          }
        });

        it('with no header catalogs work and everything else is UNAUTHENTICATED (401)', async () => {
          const catalogs = await withAuthorization(gw, null, CATALOGS);
          expect(catalogs.errors).toBeUndefined();
          expect(catalogs.data!.catalogs).toHaveLength(4);
          const blank = await withAuthorization(gw, '   ', CATALOGS);
          expect(blank.errors).toBeUndefined();

          const org = await withAuthorization(gw, null, ORGANIZATION, { id: fx.organizationId });
          expectError(org, 'UNAUTHENTICATED', { message: /Authorization: Bearer <token>/ });
          expect(org.data).toEqual({ organization: null });
        });

        it('the operator token reaches every organization', async () => {
          for (const id of [fx.organizationId, other.organizationId]) {
            const result = await withAuthorization(gw, `Bearer ${OPERATOR_TOKEN}`, ORGANIZATION, { id });
            expect(result.errors).toBeUndefined();
            expect(result.data!.organization.id).toBe(id);
          }
        });
      });
    });
  }
});

describe.skipIf(DATABASES.length === 0)('migration 0007 (token expiry and last use)', () => {
  for (const kind of DATABASES) {
    it(`[TOKEN-EXPIRY] down removes expires_at and last_used_at, up adds them back (${kind})`, async () => {
      const database = await freshDatabase(kind);
      try {
        const columns = async () =>
          (
            await sql<{
              column_name: string;
            }>`select column_name from information_schema.columns where table_name = 'api_tokens' order by column_name`.execute(database.db)
          ).rows.map((r) => r.column_name);
        expect(await columns()).toEqual(expect.arrayContaining(['expires_at', 'last_used_at']));
        await migration0007.down(database.db);
        expect(await columns()).not.toContain('expires_at');
        expect(await columns()).not.toContain('last_used_at');
        await migration0007.up(database.db);
        expect(await columns()).toEqual(expect.arrayContaining(['expires_at', 'last_used_at']));
      } finally {
        await database.dispose();
      }
    });
  }
});
