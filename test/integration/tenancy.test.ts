import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../../src/ids.ts';
import { DATABASES } from '../support/databases.ts';
import { createOrg, createUser, startGateway, type OrgFixture, type Result, type TestGateway } from '../support/gateway.ts';

/*
 * Tenancy through the real GraphQL handler and a real database (SPEC §4.1,
 * §5, §6): organizations, sites, configuration groups, teams, users; their
 * input errors, authorization, cross-organization isolation, the active-user
 * counts, the XPhone user limit and user pagination.
 */

// ------------------------------------------------------------------ documents

const USER_FIELDS = 'id name email role status createdAt site { id } configurationGroup { id } team { id }';
const PAGE_FIELDS = 'totalCount edges { cursor node { id } } pageInfo { hasNextPage endCursor }';

const CREATE_ORGANIZATION = `mutation($input: CreateOrganizationInput!) {
  createOrganization(input: $input) {
    organization { id name customerRef catalog { code maxUsers } sites { id } teams { id } activeUsers activeUsersInBillingPeriod users { totalCount } }
  }
}`;
const CREATE_SITE = `mutation($input: CreateSiteInput!) {
  createSite(input: $input) { site { id name organization { id } configurationGroups { id } users { totalCount } } }
}`;
const CREATE_GROUP = `mutation($input: CreateConfigurationGroupInput!) {
  createConfigurationGroup(input: $input) {
    configurationGroup { id name site { id } functions { code kind allocation } options users { totalCount } }
  }
}`;
const UPDATE_GROUP = `mutation($input: UpdateConfigurationGroupInput!) {
  updateConfigurationGroup(input: $input) { configurationGroup { id name site { id } functions { code } options } }
}`;
const CREATE_TEAM = `mutation($input: CreateTeamInput!) {
  createTeam(input: $input) { team { id name leader { id name } members { id } } }
}`;
const CREATE_USER = `mutation($input: CreateUserInput!) { createUser(input: $input) { user { ${USER_FIELDS} } } }`;
const UPDATE_USER_STATUS = `mutation($input: UpdateUserStatusInput!) { updateUserStatus(input: $input) { user { id status } } }`;
const DELETE_USER = `mutation($input: DeleteUserInput!) { deleteUser(input: $input) { deletedUserId } }`;
const CREATE_TOKEN = `mutation($input: CreateApiTokenInput!) { createApiToken(input: $input) { token apiToken { id role } } }`;
const REVOKE_TOKEN = `mutation($input: RevokeApiTokenInput!) { revokeApiToken(input: $input) { apiTokenId } }`;

const CATALOGS = `{ catalogs { code name maxUsers products { code allocation } } }`;
const CATALOG = `query($code: String!) { catalog(code: $code) { code name maxUsers products { code kind allocation } } }`;
const ORGANIZATION = `query($id: ID!) {
  organization(id: $id) {
    id name customerRef catalog { code maxUsers } sites { id name } teams { id name }
    activeUsers activeUsersInBillingPeriod users { ${PAGE_FIELDS} }
  }
}`;
const SITE = `query($id: ID!) {
  site(id: $id) {
    id name organization { id }
    configurationGroups { id name users { totalCount edges { node { id } } } }
    users { totalCount edges { node { id } } }
  }
}`;
const TEAM = `query($id: ID!) { team(id: $id) { id name leader { id name } members { id name } } }`;
const USER = `query($id: ID!) {
  user(id: $id) {
    ${USER_FIELDS}
    site { id name }
    configurationGroup { id name functions { code } }
    team { id name leader { id } }
  }
}`;
const ACTIVE_COUNTS = `query($id: ID!) { organization(id: $id) { activeUsers activeUsersInBillingPeriod } }`;
const ORG_USERS_PAGE = `query($id: ID!, $first: Int, $after: String) {
  organization(id: $id) { users(first: $first, after: $after) { ${PAGE_FIELDS} } }
}`;
const SITE_USERS_PAGE = `query($id: ID!, $first: Int, $after: String) {
  site(id: $id) { users(first: $first, after: $after) { ${PAGE_FIELDS} } }
}`;
const GROUP_USERS_PAGE = `query($id: ID!, $first: Int, $after: String) {
  user(id: $id) { configurationGroup { users(first: $first, after: $after) { ${PAGE_FIELDS} } } }
}`;

// ------------------------------------------------------------------ helpers

/** [R-API-1] Nothing internal in a response: no stack trace, no file positions, no SQL. */
function expectNoLeak(result: unknown): void {
  const text = JSON.stringify(result);
  expect(text).not.toMatch(/at .*\.ts:\d+/);
  expect(text).not.toMatch(/select |insert into|update .* set/i);
  expect(text).not.toMatch(/stack/);
}

interface ExpectedError {
  field?: string;
  message?: RegExp;
  rule?: string;
}

/** One error of `code`, naming the field (message and extensions.field) and rule where given; nothing leaked. */
function expectError(result: Result, code: string, expected: ExpectedError = {}): void {
  expectNoLeak(result);
  expect(result.errors, JSON.stringify(result)).toHaveLength(1);
  const error = result.errors![0]!;
  expect(error.extensions?.code, error.message).toBe(code);
  if (expected.field !== undefined) {
    expect(error.extensions?.field).toBe(expected.field);
    expect(error.message).toContain(expected.field);
  }
  if (expected.message) expect(error.message).toMatch(expected.message);
  if (expected.rule) {
    expect(error.extensions?.rule).toBe(expected.rule);
    expect(error.message).toContain(expected.rule);
  }
  if (code === 'UNAUTHENTICATED') expect(result.status).toBe(401);
}

/** What a client learns from a NOT_FOUND, with the id it asked for blanked out. */
function notFoundShape(result: Result, id: string) {
  const error = result.errors?.[0];
  return {
    status: result.status,
    data: result.data,
    errorCount: result.errors?.length,
    code: error?.extensions?.code,
    extensions: error?.extensions,
    message: error?.message.replace(id, '<id>'),
  };
}

interface UserPage {
  totalCount: number;
  edges: { cursor: string; node: { id: string } }[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}

let counter = 0;
const unique = (prefix: string) => `${prefix} ${++counter}`;

const MONTH_START = '2026-11-01T00:00:00.000Z';
const at = (iso: string) => new Date(iso);

async function newSite(gw: TestGateway, token: string, organizationId: string, name = unique('Site')): Promise<string> {
  const data = await gw.ok(CREATE_SITE, { input: { organizationId, name } }, token);
  return data.createSite.site.id as string;
}

async function newGroup(
  gw: TestGateway,
  token: string,
  siteId: string,
  functions: string[] = [],
  options?: string[],
  name = unique('Group'),
): Promise<string> {
  const data = await gw.ok(CREATE_GROUP, { input: { siteId, name, functions, options } }, token);
  return data.createConfigurationGroup.configurationGroup.id as string;
}

async function newTeam(gw: TestGateway, token: string, organizationId: string, leaderId?: string, name = unique('Team')): Promise<string> {
  const data = await gw.ok(CREATE_TEAM, { input: { organizationId, name, leaderId } }, token);
  return data.createTeam.team.id as string;
}

async function setStatus(gw: TestGateway, token: string, userId: string, status: string): Promise<void> {
  await gw.ok(UPDATE_USER_STATUS, { input: { userId, status } }, token);
}

async function removeUser(gw: TestGateway, token: string, userId: string): Promise<void> {
  await gw.ok(DELETE_USER, { input: { userId } }, token);
}

async function activeCounts(
  gw: TestGateway,
  token: string,
  organizationId: string,
): Promise<{ activeUsers: number; activeUsersInBillingPeriod: number }> {
  const data = await gw.ok(ACTIVE_COUNTS, { id: organizationId }, token);
  return data.organization;
}

async function tableCount(
  gw: TestGateway,
  table: 'users' | 'events' | 'user_status_history' | 'sites' | 'teams' | 'configuration_groups',
): Promise<number> {
  const row = await gw.database.db
    .selectFrom(table)
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Names every create mutation refuses, with what the message says. */
const BAD_NAMES: [string, string, RegExp][] = [
  ['empty', '', /must not be empty/],
  ['whitespace-only', '  \t  ', /must not be empty/],
  ['overlong (201 characters)', 'x'.repeat(201), /at most 200 characters/],
  ['with a control character', 'Sales\u0007Floor', /control characters/],
  ['with a line break inside', 'Sales\nFloor', /control characters/],
];

// ------------------------------------------------------------------ suites

describe.skipIf(DATABASES.length === 0)('tenancy', () => {
  for (const kind of DATABASES) {
    describe(kind, () => {
      let gw: TestGateway;
      const START = at('2026-11-22T10:00:00.000Z');

      beforeAll(async () => {
        gw = await startGateway(kind, { now: START });
      });

      afterAll(async () => {
        await gw?.close();
      });

      // -------------------------------------------------------------- catalogs

      describe('catalogs', () => {
        it('[R-CAT-1] lists the four catalogs without a token', async () => {
          const result = await gw.gql(CATALOGS, {}, null);
          expect(result.errors).toBeUndefined();
          expect(result.status).toBe(200);
          expect(result.data!.catalogs.map((c: { code: string }) => c.code)).toEqual([
            'connect-storm',
            'innoacd',
            'xphone-connect',
            'zoom-contact-center',
          ]);
        });

        it('catalog(code) returns one catalog without a token, null for an unknown code', async () => {
          const result = await gw.gql(CATALOG, { code: 'xphone-connect' }, null);
          expect(result.errors).toBeUndefined();
          const xphone = result.data!.catalog;
          expect(xphone).toMatchObject({ code: 'xphone-connect', maxUsers: 5000 });
          expect(xphone.products).toContainEqual({ code: 'SERVER', kind: 'SYSTEM', allocation: 'ACCOUNT' });
          expect(xphone.products).toContainEqual({ code: 'OFFICE', kind: 'USER', allocation: 'NAMED' });

          const unknown = await gw.gql(CATALOG, { code: 'no-such-catalog' }, null);
          expect(unknown.errors).toBeUndefined();
          expect(unknown.data).toEqual({ catalog: null });
        });
      });

      // -------------------------------------------------------------- organizations

      describe('createOrganization', () => {
        it('creates an organization with its catalog and nothing in it yet', async () => {
          const data = await gw.ok(CREATE_ORGANIZATION, {
            input: { name: '  Acme Contact GmbH  ', catalog: 'innoacd', customerRef: 'C-42' },
          });
          const org = data.createOrganization.organization;
          expect(org).toEqual({
            id: expect.stringMatching(/^[0-9a-f-]{36}$/),
            name: 'Acme Contact GmbH',
            customerRef: 'C-42',
            catalog: { code: 'innoacd', maxUsers: null },
            sites: [],
            teams: [],
            activeUsers: 0,
            activeUsersInBillingPeriod: 0,
            users: { totalCount: 0 },
          });
          const read = await gw.ok(ORGANIZATION, { id: org.id });
          expect(read.organization).toMatchObject({ id: org.id, name: 'Acme Contact GmbH', customerRef: 'C-42' });
        });

        it('customerRef is optional; a blank one is stored as none', async () => {
          const without = await gw.ok(CREATE_ORGANIZATION, { input: { name: unique('Org'), catalog: 'connect-storm' } });
          expect(without.createOrganization.organization.customerRef).toBeNull();
          const blank = await gw.ok(CREATE_ORGANIZATION, { input: { name: unique('Org'), catalog: 'connect-storm', customerRef: '   ' } });
          expect(blank.createOrganization.organization.customerRef).toBeNull();
        });

        it.each(BAD_NAMES)('[R-API-1] refuses a name that is %s', async (_label, name, message) => {
          const result = await gw.gql(CREATE_ORGANIZATION, { input: { name, catalog: 'innoacd' } });
          expectError(result, 'BAD_USER_INPUT', { field: 'input.name', message });
        });

        it('[R-API-1] refuses an unknown catalog, naming the field and the known ones', async () => {
          const before = await tableCount(gw, 'events');
          const result = await gw.gql(CREATE_ORGANIZATION, { input: { name: unique('Org'), catalog: 'avaya' } });
          expectError(result, 'BAD_USER_INPUT', { field: 'input.catalog', message: /unknown catalog "avaya".*xphone-connect/ });
          expect(await tableCount(gw, 'events')).toBe(before);
        });

        it('accepts a name of exactly 200 characters', async () => {
          const name = 'n'.repeat(200);
          const data = await gw.ok(CREATE_ORGANIZATION, { input: { name, catalog: 'innoacd' } });
          expect(data.createOrganization.organization.name).toBe(name);
        });
      });

      // -------------------------------------------------------------- sites

      describe('createSite', () => {
        let fx: OrgFixture;
        beforeAll(async () => {
          fx = await createOrg(gw, 'connect-storm', 'Site Org');
        });

        it('creates a site (trimmed name) that the organization lists', async () => {
          const data = await gw.ok(CREATE_SITE, { input: { organizationId: fx.organizationId, name: '  Munich  ' } }, fx.admin);
          const site = data.createSite.site;
          expect(site).toEqual({
            id: expect.any(String),
            name: 'Munich',
            organization: { id: fx.organizationId },
            configurationGroups: [],
            users: { totalCount: 0 },
          });
          const org = await gw.ok(ORGANIZATION, { id: fx.organizationId }, fx.admin);
          expect(org.organization.sites).toEqual([
            { id: fx.siteId, name: 'Headquarters' },
            { id: site.id, name: 'Munich' },
          ]);
        });

        it.each(BAD_NAMES)('[R-API-1] refuses a name that is %s', async (_label, name, message) => {
          const result = await gw.gql(CREATE_SITE, { input: { organizationId: fx.organizationId, name } }, fx.admin);
          expectError(result, 'BAD_USER_INPUT', { field: 'input.name', message });
        });

        it('[R-API-1] refuses a duplicate site name (also after trimming); another organization may use it', async () => {
          await newSite(gw, fx.admin, fx.organizationId, 'Hamburg');
          const duplicate = await gw.gql(CREATE_SITE, { input: { organizationId: fx.organizationId, name: ' Hamburg ' } }, fx.admin);
          expectError(duplicate, 'BAD_USER_INPUT', { field: 'input.name', message: /"Hamburg" exists already/ });

          const other = await createOrg(gw, 'connect-storm', 'Other Site Org');
          await expect(newSite(gw, other.admin, other.organizationId, 'Hamburg')).resolves.toEqual(expect.any(String));
        });

        it('[R-API-1] an unknown organization is NOT_FOUND', async () => {
          const id = newId();
          const result = await gw.gql(CREATE_SITE, { input: { organizationId: id, name: 'Nowhere' } });
          expectError(result, 'NOT_FOUND', { message: new RegExp(`organization ${id} not found`) });
        });
      });

      // -------------------------------------------------------------- configuration groups

      describe('configuration groups', () => {
        let fx: OrgFixture;
        beforeAll(async () => {
          fx = await createOrg(gw, 'xphone-connect', 'Group Org');
        });

        it('createConfigurationGroup returns its functions as products and its options', async () => {
          const data = await gw.ok(
            CREATE_GROUP,
            { input: { siteId: fx.siteId, name: ' Office users ', functions: ['OFFICE', 'VOICEMAIL', 'OFFICE'], options: ['client'] } },
            fx.admin,
          );
          expect(data.createConfigurationGroup.configurationGroup).toEqual({
            id: expect.any(String),
            name: 'Office users',
            site: { id: fx.siteId },
            functions: [
              { code: 'OFFICE', kind: 'USER', allocation: 'NAMED' },
              { code: 'VOICEMAIL', kind: 'USER', allocation: 'NAMED' },
            ],
            options: ['client'],
            users: { totalCount: 0 },
          });
        });

        it('options may be omitted and functions empty', async () => {
          const data = await gw.ok(CREATE_GROUP, { input: { siteId: fx.siteId, name: unique('Plain'), functions: [] } }, fx.admin);
          expect(data.createConfigurationGroup.configurationGroup).toMatchObject({ functions: [], options: [] });
        });

        it.each(BAD_NAMES)('[R-API-1] createConfigurationGroup refuses a name that is %s', async (_label, name, message) => {
          const result = await gw.gql(CREATE_GROUP, { input: { siteId: fx.siteId, name, functions: [] } }, fx.admin);
          expectError(result, 'BAD_USER_INPUT', { field: 'input.name', message });
        });

        it('[R-API-1] refuses a duplicate group name at the same site; another site may use it', async () => {
          await newGroup(gw, fx.admin, fx.siteId, [], undefined, 'Agents');
          const duplicate = await gw.gql(CREATE_GROUP, { input: { siteId: fx.siteId, name: 'Agents', functions: [] } }, fx.admin);
          expectError(duplicate, 'BAD_USER_INPUT', { field: 'input.name', message: /"Agents" exists already/ });

          const otherSite = await newSite(gw, fx.admin, fx.organizationId);
          await expect(newGroup(gw, fx.admin, otherSite, [], undefined, 'Agents')).resolves.toEqual(expect.any(String));
        });

        it('[R-API-1] refuses an unknown product in functions, naming its index', async () => {
          const result = await gw.gql(
            CREATE_GROUP,
            { input: { siteId: fx.siteId, name: unique('G'), functions: ['OFFICE', 'ACD_AGENT'] } },
            fx.admin,
          );
          expectError(result, 'BAD_USER_INPUT', {
            field: 'input.functions[1]',
            message: /unknown product "ACD_AGENT" in catalog xphone-connect/,
          });
        });

        it('[R-API-1] refuses an ACCOUNT product (xphone SERVER) as a user function', async () => {
          const result = await gw.gql(
            CREATE_GROUP,
            { input: { siteId: fx.siteId, name: unique('G'), functions: ['OFFICE', 'SERVER'] } },
            fx.admin,
          );
          expectError(result, 'BAD_USER_INPUT', { field: 'input.functions[1]', message: /SERVER .*organization as a whole/ });
        });

        it('[R-API-1] refuses an unknown option, naming its index and the known ones', async () => {
          const result = await gw.gql(
            CREATE_GROUP,
            { input: { siteId: fx.siteId, name: unique('G'), functions: ['OFFICE'], options: ['client', 'teleport'] } },
            fx.admin,
          );
          expectError(result, 'BAD_USER_INPUT', { field: 'input.options[1]', message: /unknown option "teleport".*mobileApp/ });
        });

        it('[R-API-1] an unknown site is NOT_FOUND', async () => {
          const id = newId();
          const result = await gw.gql(CREATE_GROUP, { input: { siteId: id, name: 'G', functions: [] } }, fx.admin);
          expectError(result, 'NOT_FOUND', { message: new RegExp(`site ${id} not found`) });
        });

        it('updateConfigurationGroup replaces functions and keeps options when they are omitted', async () => {
          const groupId = await newGroup(gw, fx.admin, fx.siteId, ['OFFICE'], ['client']);
          const data = await gw.ok(UPDATE_GROUP, { input: { configurationGroupId: groupId, functions: ['OFFICE_PLUS', 'FAX'] } }, fx.admin);
          expect(data.updateConfigurationGroup.configurationGroup).toMatchObject({
            id: groupId,
            site: { id: fx.siteId },
            functions: [{ code: 'OFFICE_PLUS' }, { code: 'FAX' }],
            options: ['client'],
          });

          const options = await gw.ok(
            UPDATE_GROUP,
            { input: { configurationGroupId: groupId, options: ['mobileApp', 'smsNotification'] } },
            fx.admin,
          );
          expect(options.updateConfigurationGroup.configurationGroup).toMatchObject({
            functions: [{ code: 'OFFICE_PLUS' }, { code: 'FAX' }],
            options: ['mobileApp', 'smsNotification'],
          });

          // The change is stored, not only echoed.
          const userId = await createUser(gw, fx.admin, { siteId: fx.siteId, name: unique('Member'), configurationGroupId: groupId });
          const read = await gw.ok(USER, { id: userId }, fx.admin);
          expect(read.user.configurationGroup.functions).toEqual([{ code: 'OFFICE_PLUS' }, { code: 'FAX' }]);
        });

        it('[R-API-1][R-API-2] updateConfigurationGroup refuses unknown products, ACCOUNT products and unknown options and changes nothing', async () => {
          const groupId = await newGroup(gw, fx.admin, fx.siteId, ['OFFICE']);
          const events = await tableCount(gw, 'events');

          expectError(
            await gw.gql(UPDATE_GROUP, { input: { configurationGroupId: groupId, functions: ['OFFICE', 'NOPE'] } }, fx.admin),
            'BAD_USER_INPUT',
            {
              field: 'input.functions[1]',
              message: /unknown product "NOPE"/,
            },
          );
          expectError(
            await gw.gql(UPDATE_GROUP, { input: { configurationGroupId: groupId, functions: ['OFFICE', 'IP_CHANNEL'] } }, fx.admin),
            'BAD_USER_INPUT',
            {
              field: 'input.functions[1]',
            },
          );
          expectError(
            await gw.gql(UPDATE_GROUP, { input: { configurationGroupId: groupId, options: ['shiny'] } }, fx.admin),
            'BAD_USER_INPUT',
            {
              field: 'input.options[0]',
            },
          );

          const memberId = await createUser(gw, fx.admin, { siteId: fx.siteId, name: unique('Member'), configurationGroupId: groupId });
          const read = await gw.ok(USER, { id: memberId }, fx.admin);
          expect(read.user.configurationGroup.functions).toEqual([{ code: 'OFFICE' }]);
          // Only the user creation above left an event.
          expect(await tableCount(gw, 'events')).toBe(events + 1);
        });

        it('[R-API-1] updateConfigurationGroup of an unknown or malformed id is NOT_FOUND', async () => {
          for (const id of [newId(), 'not-a-group']) {
            const result = await gw.gql(UPDATE_GROUP, { input: { configurationGroupId: id, functions: [] } }, fx.admin);
            expectError(result, 'NOT_FOUND', { message: /^configuration group .* not found$/ });
          }
        });
      });

      // -------------------------------------------------------------- teams

      describe('teams', () => {
        let fx: OrgFixture;
        beforeAll(async () => {
          fx = await createOrg(gw, 'xphone-connect', 'Team Org');
        });

        it('createTeam with a leader; team(id) shows leader and members; the organization lists it', async () => {
          const leaderId = await createUser(gw, fx.admin, { siteId: fx.siteId, name: 'Lena Leader', role: 'TEAM_LEAD' });
          const data = await gw.ok(CREATE_TEAM, { input: { organizationId: fx.organizationId, name: ' Blue Team ', leaderId } }, fx.admin);
          const team = data.createTeam.team;
          expect(team).toEqual({ id: expect.any(String), name: 'Blue Team', leader: { id: leaderId, name: 'Lena Leader' }, members: [] });

          const memberA = await createUser(gw, fx.admin, { siteId: fx.siteId, name: 'Member A', teamId: team.id });
          const otherSite = await newSite(gw, fx.admin, fx.organizationId);
          const memberB = await createUser(gw, fx.admin, { siteId: otherSite, name: 'Member B', teamId: team.id });

          const read = await gw.ok(TEAM, { id: team.id }, fx.admin);
          expect(read.team.leader).toEqual({ id: leaderId, name: 'Lena Leader' });
          // Teams span sites.
          expect(read.team.members.map((m: { id: string }) => m.id).sort()).toEqual([memberA, memberB].sort());

          const org = await gw.ok(ORGANIZATION, { id: fx.organizationId }, fx.admin);
          expect(org.organization.teams).toContainEqual({ id: team.id, name: 'Blue Team' });
        });

        it('a team needs no leader', async () => {
          const data = await gw.ok(CREATE_TEAM, { input: { organizationId: fx.organizationId, name: unique('Leaderless') } }, fx.admin);
          expect(data.createTeam.team).toMatchObject({ leader: null, members: [] });
        });

        it.each(BAD_NAMES)('[R-API-1] refuses a name that is %s', async (_label, name, message) => {
          const result = await gw.gql(CREATE_TEAM, { input: { organizationId: fx.organizationId, name } }, fx.admin);
          expectError(result, 'BAD_USER_INPUT', { field: 'input.name', message });
        });

        it('[R-API-1] refuses a duplicate team name', async () => {
          await newTeam(gw, fx.admin, fx.organizationId, undefined, 'Red Team');
          const result = await gw.gql(CREATE_TEAM, { input: { organizationId: fx.organizationId, name: 'Red Team' } }, fx.admin);
          expectError(result, 'BAD_USER_INPUT', { field: 'input.name', message: /"Red Team" exists already/ });
        });

        it('[R-API-1] refuses an unknown or malformed leader', async () => {
          for (const leaderId of [newId(), 'not-a-user']) {
            const result = await gw.gql(
              CREATE_TEAM,
              { input: { organizationId: fx.organizationId, name: unique('T'), leaderId } },
              fx.admin,
            );
            expectError(result, 'BAD_USER_INPUT', {
              field: 'input.leaderId',
              message: new RegExp(`no user ${leaderId} in this organization`),
            });
          }
        });
      });

      // -------------------------------------------------------------- users

      describe('users', () => {
        let fx: OrgFixture;
        let groupId: string;
        let teamId: string;
        beforeAll(async () => {
          fx = await createOrg(gw, 'xphone-connect', 'User Org');
          groupId = await newGroup(gw, fx.admin, fx.siteId, ['OFFICE'], [], 'Office');
          teamId = await newTeam(gw, fx.admin, fx.organizationId, undefined, 'Sales');
        });

        it('createUser returns every field; user(id) resolves site, configuration group and team', async () => {
          const input = {
            siteId: fx.siteId,
            name: '  Erika Mustermann ',
            role: 'SUPERVISOR',
            email: ' erika@example.com ',
            configurationGroupId: groupId,
            teamId,
          };
          const data = await gw.ok(CREATE_USER, { input }, fx.admin);
          const user = data.createUser.user;
          expect(user).toEqual({
            id: expect.stringMatching(/^[0-9a-f-]{36}$/),
            name: 'Erika Mustermann',
            email: 'erika@example.com',
            role: 'SUPERVISOR',
            status: 'ACTIVE',
            createdAt: gw.clock.now().toISOString(),
            site: { id: fx.siteId },
            configurationGroup: { id: groupId },
            team: { id: teamId },
          });

          const read = await gw.ok(USER, { id: user.id }, fx.tokens.SUPERVISOR);
          expect(read.user).toMatchObject({
            id: user.id,
            site: { id: fx.siteId, name: 'Headquarters' },
            configurationGroup: { id: groupId, name: 'Office', functions: [{ code: 'OFFICE' }] },
            team: { id: teamId, name: 'Sales', leader: null },
          });
        });

        it('a user without group, team or e-mail; an explicit status is kept', async () => {
          const data = await gw.ok(
            CREATE_USER,
            { input: { siteId: fx.siteId, name: unique('Plain'), role: 'AGENT', status: 'PREPARING', email: '' } },
            fx.admin,
          );
          expect(data.createUser.user).toMatchObject({ email: null, status: 'PREPARING', configurationGroup: null, team: null });
        });

        it.each(BAD_NAMES)('[R-API-1] refuses a name that is %s', async (_label, name, message) => {
          const result = await gw.gql(CREATE_USER, { input: { siteId: fx.siteId, name, role: 'AGENT' } }, fx.admin);
          expectError(result, 'BAD_USER_INPUT', { field: 'input.name', message });
        });

        it.each(['erika', 'erika@', 'erika@example', 'erika mustermann@example.com', '@example.com'])(
          '[R-API-1] refuses the e-mail "%s"',
          async (email) => {
            const result = await gw.gql(
              CREATE_USER,
              { input: { siteId: fx.siteId, name: unique('Mail'), role: 'AGENT', email } },
              fx.admin,
            );
            expectError(result, 'BAD_USER_INPUT', { field: 'input.email', message: /not an e-mail address/ });
          },
        );

        it('[R-API-1] refuses a configuration group of another site', async () => {
          const otherSite = await newSite(gw, fx.admin, fx.organizationId);
          const result = await gw.gql(
            CREATE_USER,
            { input: { siteId: otherSite, name: unique('U'), role: 'AGENT', configurationGroupId: groupId } },
            fx.admin,
          );
          expectError(result, 'BAD_USER_INPUT', { field: 'input.configurationGroupId', message: /another site/ });
        });

        it('[R-API-1] refuses an unknown configuration group and an unknown team', async () => {
          for (const id of [newId(), 'garbage']) {
            const group = await gw.gql(
              CREATE_USER,
              { input: { siteId: fx.siteId, name: unique('U'), role: 'AGENT', configurationGroupId: id } },
              fx.admin,
            );
            expectError(group, 'BAD_USER_INPUT', {
              field: 'input.configurationGroupId',
              message: /no configuration group .* in this organization/,
            });
            const team = await gw.gql(
              CREATE_USER,
              { input: { siteId: fx.siteId, name: unique('U'), role: 'AGENT', teamId: id } },
              fx.admin,
            );
            expectError(team, 'BAD_USER_INPUT', { field: 'input.teamId', message: /no team .* in this organization/ });
          }
        });

        it('[R-API-1] an unknown site is NOT_FOUND', async () => {
          const result = await gw.gql(CREATE_USER, { input: { siteId: newId(), name: 'U', role: 'AGENT' } }, fx.admin);
          expectError(result, 'NOT_FOUND', { message: /^site .* not found$/ });
        });

        it('[R-API-2] a refused createUser leaves no user, no status history and no event behind', async () => {
          const orgUsers = async () =>
            (await gw.ok(ORG_USERS_PAGE, { id: fx.organizationId, first: 0 }, fx.admin)).organization.users.totalCount as number;
          const inOrg = await orgUsers();
          const before = {
            users: await tableCount(gw, 'users'),
            history: await tableCount(gw, 'user_status_history'),
            events: await tableCount(gw, 'events'),
          };
          const refused = [
            await gw.gql(CREATE_USER, { input: { siteId: fx.siteId, name: unique('U'), role: 'AGENT', email: 'nope' } }, fx.admin),
            await gw.gql(CREATE_USER, { input: { siteId: fx.siteId, name: unique('U'), role: 'AGENT', teamId: newId() } }, fx.admin),
            await gw.gql(CREATE_USER, { input: { siteId: fx.siteId, name: unique('U'), role: 'AGENT' } }, fx.tokens.SUPERVISOR),
          ];
          for (const result of refused) expect(result.errors).toHaveLength(1);
          expect({
            users: await tableCount(gw, 'users'),
            history: await tableCount(gw, 'user_status_history'),
            events: await tableCount(gw, 'events'),
          }).toEqual(before);
          expect(await orgUsers()).toBe(inOrg);
        });

        it('updateUserStatus changes the status; setting the same status again is a no-op', async () => {
          const userId = await createUser(gw, fx.admin, { siteId: fx.siteId, name: unique('Status'), status: 'PREPARING' });
          const data = await gw.ok(UPDATE_USER_STATUS, { input: { userId, status: 'ACTIVE' } }, fx.admin);
          expect(data.updateUserStatus.user).toEqual({ id: userId, status: 'ACTIVE' });

          const events = await tableCount(gw, 'events');
          const again = await gw.ok(UPDATE_USER_STATUS, { input: { userId, status: 'ACTIVE' } }, fx.admin);
          expect(again.updateUserStatus.user).toEqual({ id: userId, status: 'ACTIVE' });
          expect(await tableCount(gw, 'events')).toBe(events);

          await setStatus(gw, fx.admin, userId, 'INACTIVE');
          const read = await gw.ok(USER, { id: userId }, fx.admin);
          expect(read.user.status).toBe('INACTIVE');
        });

        it('[R-API-1] updateUserStatus of an unknown or malformed user is NOT_FOUND', async () => {
          for (const userId of [newId(), 'x']) {
            expectError(await gw.gql(UPDATE_USER_STATUS, { input: { userId, status: 'ACTIVE' } }, fx.admin), 'NOT_FOUND', {
              message: /^user .* not found$/,
            });
          }
        });

        it('deleteUser removes the user from reads, lists and as team leader; a second delete is NOT_FOUND', async () => {
          const siteId = await newSite(gw, fx.admin, fx.organizationId);
          const userId = await createUser(gw, fx.admin, { siteId, name: unique('Leaving'), role: 'TEAM_LEAD' });
          const ledTeam = await newTeam(gw, fx.admin, fx.organizationId, userId);
          const memberTeam = await newTeam(gw, fx.admin, fx.organizationId);
          const member = await createUser(gw, fx.admin, { siteId, name: unique('Member'), teamId: memberTeam });

          const data = await gw.ok(DELETE_USER, { input: { userId } }, fx.admin);
          expect(data.deleteUser).toEqual({ deletedUserId: userId });

          expectError(await gw.gql(USER, { id: userId }, fx.admin), 'NOT_FOUND', { message: new RegExp(`user ${userId} not found`) });
          const site = await gw.ok(SITE, { id: siteId }, fx.admin);
          expect(site.site.users).toEqual({ totalCount: 1, edges: [{ node: { id: member } }] });
          const team = await gw.ok(TEAM, { id: ledTeam }, fx.admin);
          expect(team.team.leader).toBeNull();

          // A team member can be deleted too; the team stays.
          await removeUser(gw, fx.admin, member);
          expect((await gw.ok(TEAM, { id: memberTeam }, fx.admin)).team.members).toEqual([]);

          expectError(await gw.gql(DELETE_USER, { input: { userId } }, fx.admin), 'NOT_FOUND', { message: /^user .* not found$/ });
        });
      });

      // -------------------------------------------------------------- reads

      describe('queries', () => {
        it('organization(id) with sites, teams, catalog, active counts and users; site(id) with groups and users', async () => {
          const fx = await createOrg(gw, 'xphone-connect', 'Read Org', 'CUST-READ');
          const branch = await newSite(gw, fx.admin, fx.organizationId, 'Branch');
          const groupId = await newGroup(gw, fx.admin, fx.siteId, ['OFFICE'], [], 'Office');
          const emptyGroup = await newGroup(gw, fx.admin, fx.siteId, [], [], 'Empty');
          const teamId = await newTeam(gw, fx.admin, fx.organizationId, undefined, 'Support');
          const a = await createUser(gw, fx.admin, { siteId: fx.siteId, name: 'A', configurationGroupId: groupId, teamId });
          const b = await createUser(gw, fx.admin, { siteId: fx.siteId, name: 'B', status: 'PREPARING' });
          const c = await createUser(gw, fx.admin, { siteId: branch, name: 'C' });

          for (const token of [fx.tokens.ADMIN, fx.tokens.SUPERVISOR, fx.tokens.INTEGRATOR]) {
            const result = await gw.gql(ORGANIZATION, { id: fx.organizationId }, token);
            expect(result.errors).toBeUndefined();
            const org = result.data!.organization;
            expect(org).toMatchObject({
              id: fx.organizationId,
              name: 'Read Org',
              customerRef: 'CUST-READ',
              catalog: { code: 'xphone-connect', maxUsers: 5000 },
              sites: [
                { id: branch, name: 'Branch' },
                { id: fx.siteId, name: 'Headquarters' },
              ],
              teams: [{ id: teamId, name: 'Support' }],
              activeUsers: 2,
              activeUsersInBillingPeriod: 2,
            });
            expect(org.users.totalCount).toBe(3);
            expect(org.users.edges.map((e: { node: { id: string } }) => e.node.id).sort()).toEqual([a, b, c].sort());
          }

          const site = await gw.ok(SITE, { id: fx.siteId }, fx.tokens.INTEGRATOR);
          expect(site.site).toMatchObject({ id: fx.siteId, name: 'Headquarters', organization: { id: fx.organizationId } });
          expect(site.site.configurationGroups).toEqual([
            { id: emptyGroup, name: 'Empty', users: { totalCount: 0, edges: [] } },
            { id: groupId, name: 'Office', users: { totalCount: 1, edges: [{ node: { id: a } }] } },
          ]);
          expect(site.site.users.totalCount).toBe(2);
          expect(site.site.users.edges.map((e: { node: { id: string } }) => e.node.id).sort()).toEqual([a, b].sort());
        });

        it('[R-API-1] unknown and malformed ids of every root query are NOT_FOUND with data null', async () => {
          for (const [query, field, what] of [
            [ORGANIZATION, 'organization', 'organization'],
            [SITE, 'site', 'site'],
            [USER, 'user', 'user'],
            [TEAM, 'team', 'team'],
          ] as const) {
            for (const id of [newId(), 'nope', '']) {
              const result = await gw.gql(query, { id });
              expectError(result, 'NOT_FOUND', { message: new RegExp(`^${what} .*not found$`) });
              expect(result.data).toEqual({ [field]: null });
            }
          }
        });
      });

      // -------------------------------------------------------------- authentication and roles

      describe('authentication and roles', () => {
        interface Ids {
          organizationId: string;
          siteId: string;
          groupId: string;
          teamId: string;
          userId: string;
          tokenId: string;
        }
        let fx: OrgFixture;
        let ids: Ids;

        beforeAll(async () => {
          fx = await createOrg(gw, 'xphone-connect', 'Auth Org');
          const groupId = await newGroup(gw, fx.admin, fx.siteId, ['OFFICE']);
          const teamId = await newTeam(gw, fx.admin, fx.organizationId);
          const userId = await createUser(gw, fx.admin, { siteId: fx.siteId, name: 'Auth User', configurationGroupId: groupId, teamId });
          const token = await gw.ok(CREATE_TOKEN, { input: { organizationId: fx.organizationId, role: 'INTEGRATOR', label: 'victim' } });
          ids = {
            organizationId: fx.organizationId,
            siteId: fx.siteId,
            groupId,
            teamId,
            userId,
            tokenId: token.createApiToken.apiToken.id,
          };
        });

        const READS: { name: string; query: string; vars: (ids: Ids) => Record<string, unknown> }[] = [
          { name: 'organization', query: ORGANIZATION, vars: (i) => ({ id: i.organizationId }) },
          { name: 'site', query: SITE, vars: (i) => ({ id: i.siteId }) },
          { name: 'user', query: USER, vars: (i) => ({ id: i.userId }) },
          { name: 'team', query: TEAM, vars: (i) => ({ id: i.teamId }) },
          { name: 'organization.users', query: ORG_USERS_PAGE, vars: (i) => ({ id: i.organizationId, first: 10 }) },
        ];
        const WRITES: { name: string; query: string; vars: (ids: Ids) => Record<string, unknown> }[] = [
          { name: 'createOrganization', query: CREATE_ORGANIZATION, vars: () => ({ input: { name: unique('Org'), catalog: 'innoacd' } }) },
          { name: 'createSite', query: CREATE_SITE, vars: (i) => ({ input: { organizationId: i.organizationId, name: unique('Site') } }) },
          {
            name: 'createConfigurationGroup',
            query: CREATE_GROUP,
            vars: (i) => ({ input: { siteId: i.siteId, name: unique('Group'), functions: [] } }),
          },
          {
            name: 'updateConfigurationGroup',
            query: UPDATE_GROUP,
            vars: (i) => ({ input: { configurationGroupId: i.groupId, functions: [] } }),
          },
          { name: 'createTeam', query: CREATE_TEAM, vars: (i) => ({ input: { organizationId: i.organizationId, name: unique('Team') } }) },
          { name: 'createUser', query: CREATE_USER, vars: (i) => ({ input: { siteId: i.siteId, name: unique('User'), role: 'AGENT' } }) },
          { name: 'updateUserStatus', query: UPDATE_USER_STATUS, vars: (i) => ({ input: { userId: i.userId, status: 'INACTIVE' } }) },
          { name: 'deleteUser', query: DELETE_USER, vars: (i) => ({ input: { userId: i.userId } }) },
          { name: 'createApiToken', query: CREATE_TOKEN, vars: (i) => ({ input: { organizationId: i.organizationId, role: 'ADMIN' } }) },
          { name: 'revokeApiToken', query: REVOKE_TOKEN, vars: (i) => ({ input: { apiTokenId: i.tokenId } }) },
        ];

        /** After every refused write the fixture must be as it was. */
        async function expectFixtureIntact(): Promise<void> {
          const user = await gw.ok(USER, { id: ids.userId });
          expect(user.user).toMatchObject({ id: ids.userId, status: 'ACTIVE', configurationGroup: { id: ids.groupId } });
          const group = await gw.ok(GROUP_USERS_PAGE, { id: ids.userId });
          expect(group.user.configurationGroup.users.totalCount).toBe(1);
          const token = await gw.database.db
            .selectFrom('api_tokens')
            .select('revoked_at')
            .where('id', '=', ids.tokenId)
            .executeTakeFirstOrThrow();
          expect(token.revoked_at).toBeNull();
        }

        it.each([...READS, ...WRITES])('[R-SEC-1] no token: $name is UNAUTHENTICATED with HTTP 401', async ({ query, vars }) => {
          const result = await gw.gql(query, vars(ids), null);
          expectError(result, 'UNAUTHENTICATED', { message: /Bearer/ });
          expect(result.status).toBe(401);
        });

        it.each([...READS, ...WRITES, { name: 'catalogs', query: CATALOGS, vars: () => ({}) }])(
          '[R-SEC-1] a garbage token: $name is UNAUTHENTICATED with HTTP 401',
          async ({ query, vars }) => {
            const result = await gw.gql(query, vars(ids), 'lgw_thisIsNotAToken');
            expectError(result, 'UNAUTHENTICATED');
            expect(result.status).toBe(401);
            expect(result.data ?? null).toBeNull();
          },
        );

        it('[R-SEC-1] refused writes changed nothing', async () => {
          await expectFixtureIntact();
        });

        it.each(['SUPERVISOR', 'INTEGRATOR'] as const)('[R-SEC-1] %s reads organization, site, user, team and users', async (role) => {
          for (const { name, query, vars } of READS) {
            const result = await gw.gql(query, vars(ids), fx.tokens[role]);
            expect(result.errors, `${role} ${name}`).toBeUndefined();
          }
        });

        it.each(['SUPERVISOR', 'INTEGRATOR', 'AGENT_CLIENT'] as const)(
          '[R-SEC-1] %s gets FORBIDDEN on every mutation and changes nothing',
          async (role) => {
            for (const { name, query, vars } of WRITES) {
              const result = await gw.gql(query, vars(ids), fx.tokens[role]);
              expectError(result, 'FORBIDDEN');
              expect(result.errors![0]!.message, name).toMatch(
                name === 'createOrganization' ? /only the platform operator/ : new RegExp(`role ${role} may not`),
              );
            }
            await expectFixtureIntact();
          },
        );

        it('[R-SEC-1] AGENT_CLIENT gets FORBIDDEN on reads of its own organization', async () => {
          for (const { name, query, vars } of READS) {
            const result = await gw.gql(query, vars(ids), fx.tokens.AGENT_CLIENT);
            expectError(result, 'FORBIDDEN', { message: /role AGENT_CLIENT may not read/ });
            expect(result.data, name).toEqual({
              [query === SITE ? 'site' : query === USER ? 'user' : query === TEAM ? 'team' : 'organization']: null,
            });
          }
        });

        it('[R-SEC-1] only the operator may createOrganization: an ADMIN token is FORBIDDEN', async () => {
          const result = await gw.gql(CREATE_ORGANIZATION, { input: { name: unique('Org'), catalog: 'innoacd' } }, fx.admin);
          expectError(result, 'FORBIDDEN', { message: /only the platform operator/ });
        });

        it('[R-SEC-1] ADMIN may create and revoke tokens of its own organization', async () => {
          const created = await gw.ok(CREATE_TOKEN, { input: { organizationId: fx.organizationId, role: 'SUPERVISOR' } }, fx.admin);
          expect(created.createApiToken.apiToken.role).toBe('SUPERVISOR');
          const read = await gw.gql(ORGANIZATION, { id: fx.organizationId }, created.createApiToken.token);
          expect(read.errors).toBeUndefined();
          const revoked = await gw.ok(REVOKE_TOKEN, { input: { apiTokenId: created.createApiToken.apiToken.id } }, fx.admin);
          expect(revoked.revokeApiToken.apiTokenId).toBe(created.createApiToken.apiToken.id);
        });

        it('catalogs and catalog(code) need no token, and work with one', async () => {
          for (const token of [null, fx.tokens.AGENT_CLIENT]) {
            const result = await gw.gql(`query { catalogs { code } catalog(code: "innoacd") { code } }`, {}, token);
            expect(result.errors).toBeUndefined();
            expect(result.data!.catalog).toEqual({ code: 'innoacd' });
          }
        });
      });

      // -------------------------------------------------------------- isolation

      describe('[R-SEC-2] cross-organization isolation', () => {
        let a: OrgFixture;
        let b: OrgFixture;
        let bGroup: string;
        let bTeam: string;
        let bUser: string;
        let bTokenId: string;
        let bToken: string;

        beforeAll(async () => {
          a = await createOrg(gw, 'xphone-connect', 'Org A');
          b = await createOrg(gw, 'xphone-connect', 'Org B');
          bGroup = await newGroup(gw, b.admin, b.siteId, ['OFFICE']);
          bTeam = await newTeam(gw, b.admin, b.organizationId);
          bUser = await createUser(gw, b.admin, { siteId: b.siteId, name: 'B User', configurationGroupId: bGroup, teamId: bTeam });
          const token = await gw.ok(CREATE_TOKEN, { input: { organizationId: b.organizationId, role: 'SUPERVISOR' } }, b.admin);
          bTokenId = token.createApiToken.apiToken.id;
          bToken = token.createApiToken.token;
        });

        /**
         * Runs `run` with B's id, a random UUID and a malformed id; all three
         * answers must be the same NOT_FOUND, the id aside.
         */
        /** NOT_FOUND naming the id; or, for a role the field is refused to whatever the id (R-SEC-5), that same refusal. */
        async function expectSameAsMissing(
          run: (id: string) => Promise<Result>,
          foreignId: string,
          code: 'NOT_FOUND' | 'FORBIDDEN' = 'NOT_FOUND',
        ): Promise<void> {
          const randomId = newId();
          const malformed = 'not-a-uuid';
          const foreign = await run(foreignId);
          expectError(foreign, code);
          if (code === 'NOT_FOUND') expect(foreign.errors![0]!.message).toContain(foreignId);
          const shape = notFoundShape(foreign, foreignId);
          expect(notFoundShape(await run(randomId), randomId)).toEqual(shape);
          expect(notFoundShape(await run(malformed), malformed)).toEqual(shape);
        }

        it.each(['ADMIN', 'SUPERVISOR', 'AGENT_CLIENT'] as const)(
          "[R-SEC-2] a %s token of A reading B's organization, site, user, team gets NOT_FOUND as for a missing id",
          async (role) => {
            const token = a.tokens[role];
            // AGENT_CLIENT may not read these fields at all (R-SEC-5): FORBIDDEN before any id is looked at, the same for every id.
            const code = role === 'AGENT_CLIENT' ? 'FORBIDDEN' : 'NOT_FOUND';
            await expectSameAsMissing((id) => gw.gql(ORGANIZATION, { id }, token), b.organizationId, code);
            await expectSameAsMissing((id) => gw.gql(SITE, { id }, token), b.siteId, code);
            await expectSameAsMissing((id) => gw.gql(USER, { id }, token), bUser, code);
            await expectSameAsMissing((id) => gw.gql(TEAM, { id }, token), bTeam, code);
          },
        );

        it("[R-SEC-2] A's ADMIN cannot change anything of B: NOT_FOUND as for a missing id", async () => {
          const t = a.admin;
          await expectSameAsMissing(
            (organizationId) => gw.gql(CREATE_SITE, { input: { organizationId, name: unique('Intruder') } }, t),
            b.organizationId,
          );
          await expectSameAsMissing(
            (siteId) => gw.gql(CREATE_USER, { input: { siteId, name: unique('Intruder'), role: 'AGENT' } }, t),
            b.siteId,
          );
          await expectSameAsMissing(
            (siteId) => gw.gql(CREATE_GROUP, { input: { siteId, name: unique('Intruder'), functions: [] } }, t),
            b.siteId,
          );
          await expectSameAsMissing(
            (configurationGroupId) => gw.gql(UPDATE_GROUP, { input: { configurationGroupId, functions: [] } }, t),
            bGroup,
          );
          await expectSameAsMissing(
            (organizationId) => gw.gql(CREATE_TEAM, { input: { organizationId, name: unique('Intruder') } }, t),
            b.organizationId,
          );
          await expectSameAsMissing((userId) => gw.gql(UPDATE_USER_STATUS, { input: { userId, status: 'INACTIVE' } }, t), bUser);
          await expectSameAsMissing((userId) => gw.gql(DELETE_USER, { input: { userId } }, t), bUser);
          await expectSameAsMissing((apiTokenId) => gw.gql(REVOKE_TOKEN, { input: { apiTokenId } }, t), bTokenId);
          await expectSameAsMissing(
            (organizationId) => gw.gql(CREATE_TOKEN, { input: { organizationId, role: 'ADMIN' } }, t),
            b.organizationId,
          );
        });

        it("[R-SEC-2] B's objects cannot be referenced from A's own mutations", async () => {
          const groupRef = await gw.gql(
            CREATE_USER,
            { input: { siteId: a.siteId, name: unique('U'), role: 'AGENT', configurationGroupId: bGroup } },
            a.admin,
          );
          const groupMissing = await gw.gql(
            CREATE_USER,
            { input: { siteId: a.siteId, name: unique('U'), role: 'AGENT', configurationGroupId: newId() } },
            a.admin,
          );
          expectError(groupRef, 'BAD_USER_INPUT', { field: 'input.configurationGroupId' });
          expect(groupRef.errors![0]!.message.replace(bGroup, '<id>')).toBe(
            groupMissing.errors![0]!.message.replace(/[0-9a-f-]{36}/, '<id>'),
          );

          const teamRef = await gw.gql(
            CREATE_USER,
            { input: { siteId: a.siteId, name: unique('U'), role: 'AGENT', teamId: bTeam } },
            a.admin,
          );
          expectError(teamRef, 'BAD_USER_INPUT', { field: 'input.teamId', message: /no team .* in this organization/ });

          const leaderRef = await gw.gql(
            CREATE_TEAM,
            { input: { organizationId: a.organizationId, name: unique('T'), leaderId: bUser } },
            a.admin,
          );
          expectError(leaderRef, 'BAD_USER_INPUT', { field: 'input.leaderId', message: /no user .* in this organization/ });
        });

        it("[R-SEC-2] after all attempts B is unchanged and B's token still works", async () => {
          const org = await gw.ok(ORGANIZATION, { id: b.organizationId }, bToken);
          expect(org.organization.sites).toEqual([{ id: b.siteId, name: 'Headquarters' }]);
          expect(org.organization.teams).toHaveLength(1);
          expect(org.organization.users.totalCount).toBe(1);
          const user = await gw.ok(USER, { id: bUser }, bToken);
          expect(user.user).toMatchObject({ status: 'ACTIVE', configurationGroup: { id: bGroup } });
          const site = await gw.ok(SITE, { id: b.siteId }, bToken);
          expect(site.site.configurationGroups).toHaveLength(1);
          // A's organization got nothing either.
          const orgA = await gw.ok(ORGANIZATION, { id: a.organizationId }, a.admin);
          expect(orgA.organization).toMatchObject({ sites: [{ id: a.siteId }], teams: [], users: { totalCount: 0 } });
        });

        it("[R-SEC-2] a foreign organization's users connection is never reachable", async () => {
          const result = await gw.gql(ORG_USERS_PAGE, { id: b.organizationId, first: 10 }, a.tokens.SUPERVISOR);
          expectError(result, 'NOT_FOUND');
          expect(result.data).toEqual({ organization: null });
        });
      });

      // -------------------------------------------------------------- active users

      describe('active users', () => {
        afterEach(() => {
          gw.clock.set(START);
        });

        it('[R-TEN-1] activeUsers excludes PREPARING and INACTIVE users', async () => {
          const fx = await createOrg(gw, 'innoacd', 'Active Org');
          await createUser(gw, fx.admin, { siteId: fx.siteId, name: 'Active 1' });
          await createUser(gw, fx.admin, { siteId: fx.siteId, name: 'Active 2', status: 'ACTIVE' });
          await createUser(gw, fx.admin, { siteId: fx.siteId, name: 'Preparing', status: 'PREPARING' });
          await createUser(gw, fx.admin, { siteId: fx.siteId, name: 'Inactive', status: 'INACTIVE' });
          const later = await createUser(gw, fx.admin, { siteId: fx.siteId, name: 'Later', status: 'PREPARING' });
          expect(await activeCounts(gw, fx.admin, fx.organizationId)).toEqual({ activeUsers: 2, activeUsersInBillingPeriod: 2 });

          await setStatus(gw, fx.admin, later, 'ACTIVE');
          expect((await activeCounts(gw, fx.admin, fx.organizationId)).activeUsers).toBe(3);
          await setStatus(gw, fx.admin, later, 'INACTIVE');
          expect((await activeCounts(gw, fx.admin, fx.organizationId)).activeUsers).toBe(2);
        });

        it('[R-TEN-2] counts a user that was ACTIVE earlier this month and is INACTIVE now', async () => {
          gw.clock.set(at('2026-11-03T08:00:00Z'));
          const fx = await createOrg(gw, 'innoacd', 'Billing 1');
          const user = await createUser(gw, fx.admin, { siteId: fx.siteId, name: 'Was active' });
          gw.clock.set(at('2026-11-10T17:00:00Z'));
          await setStatus(gw, fx.admin, user, 'INACTIVE');
          gw.clock.set(at('2026-11-15T12:00:00Z'));
          expect(await activeCounts(gw, fx.admin, fx.organizationId)).toEqual({ activeUsers: 0, activeUsersInBillingPeriod: 1 });
        });

        it('[R-TEN-2] counts a deleted user that was active this month', async () => {
          gw.clock.set(at('2026-11-03T08:00:00Z'));
          const fx = await createOrg(gw, 'innoacd', 'Billing 2');
          const user = await createUser(gw, fx.admin, { siteId: fx.siteId, name: 'Leaves' });
          gw.clock.set(at('2026-11-12T08:00:00Z'));
          await removeUser(gw, fx.admin, user);
          gw.clock.set(at('2026-11-15T12:00:00Z'));
          expect(await activeCounts(gw, fx.admin, fx.organizationId)).toEqual({ activeUsers: 0, activeUsersInBillingPeriod: 1 });
          // Next month the deleted user is gone from the count.
          gw.clock.set(at('2026-12-01T00:00:00Z'));
          expect((await activeCounts(gw, fx.admin, fx.organizationId)).activeUsersInBillingPeriod).toBe(0);
        });

        it('[R-TEN-2] does not count users active only last month (deactivated or deleted then)', async () => {
          gw.clock.set(at('2026-10-05T08:00:00Z'));
          const fx = await createOrg(gw, 'innoacd', 'Billing 3');
          const deactivated = await createUser(gw, fx.admin, { siteId: fx.siteId, name: 'October only' });
          const deleted = await createUser(gw, fx.admin, { siteId: fx.siteId, name: 'Deleted in October' });
          gw.clock.set(at('2026-10-20T08:00:00Z'));
          await setStatus(gw, fx.admin, deactivated, 'INACTIVE');
          gw.clock.set(at('2026-10-25T08:00:00Z'));
          await removeUser(gw, fx.admin, deleted);

          gw.clock.set(at('2026-10-31T23:59:59.999Z'));
          expect(await activeCounts(gw, fx.admin, fx.organizationId)).toEqual({ activeUsers: 0, activeUsersInBillingPeriod: 2 });
          gw.clock.set(at(MONTH_START));
          expect((await activeCounts(gw, fx.admin, fx.organizationId)).activeUsersInBillingPeriod).toBe(0);
          gw.clock.set(at('2026-11-15T12:00:00Z'));
          expect((await activeCounts(gw, fx.admin, fx.organizationId)).activeUsersInBillingPeriod).toBe(0);
        });

        it('[R-TEN-2] counts a user active since an earlier month, in every month it stays active', async () => {
          gw.clock.set(at('2026-09-15T08:00:00Z'));
          const fx = await createOrg(gw, 'innoacd', 'Billing 4');
          await createUser(gw, fx.admin, { siteId: fx.siteId, name: 'Long-standing' });
          for (const now of ['2026-10-01T00:00:00Z', '2026-11-15T12:00:00Z', '2027-01-31T23:59:59Z']) {
            gw.clock.set(at(now));
            expect(await activeCounts(gw, fx.admin, fx.organizationId), now).toEqual({ activeUsers: 1, activeUsersInBillingPeriod: 1 });
          }
        });

        it('[R-TEN-2] counts a user that turned ACTIVE at exactly the month start, not before it', async () => {
          gw.clock.set(at('2026-10-20T08:00:00Z'));
          const fx = await createOrg(gw, 'innoacd', 'Billing 5');
          const user = await createUser(gw, fx.admin, { siteId: fx.siteId, name: 'Starts in November', status: 'PREPARING' });
          gw.clock.set(at('2026-10-31T23:59:59.999Z'));
          expect((await activeCounts(gw, fx.admin, fx.organizationId)).activeUsersInBillingPeriod).toBe(0);

          gw.clock.set(at(MONTH_START));
          await setStatus(gw, fx.admin, user, 'ACTIVE');
          expect(await activeCounts(gw, fx.admin, fx.organizationId)).toEqual({ activeUsers: 1, activeUsersInBillingPeriod: 1 });
          gw.clock.set(at('2026-11-15T12:00:00Z'));
          expect(await activeCounts(gw, fx.admin, fx.organizationId)).toEqual({ activeUsers: 1, activeUsersInBillingPeriod: 1 });
        });

        it('[R-TEN-2] does not count a user deactivated at exactly the month start, but one deactivated a millisecond later', async () => {
          gw.clock.set(at('2026-10-05T08:00:00Z'));
          const fx = await createOrg(gw, 'innoacd', 'Billing 6');
          const atStart = await createUser(gw, fx.admin, { siteId: fx.siteId, name: 'Off at 00:00:00.000' });
          const justAfter = await createUser(gw, fx.admin, { siteId: fx.siteId, name: 'Off at 00:00:00.001' });
          gw.clock.set(at(MONTH_START));
          await setStatus(gw, fx.admin, atStart, 'INACTIVE');
          gw.clock.set(at('2026-11-01T00:00:00.001Z'));
          await setStatus(gw, fx.admin, justAfter, 'INACTIVE');
          gw.clock.set(at('2026-11-15T12:00:00Z'));
          expect(await activeCounts(gw, fx.admin, fx.organizationId)).toEqual({ activeUsers: 0, activeUsersInBillingPeriod: 1 });
        });

        it('[R-TEN-1][R-TEN-2] a user that never left PREPARING is counted in neither', async () => {
          gw.clock.set(at('2026-11-02T08:00:00Z'));
          const fx = await createOrg(gw, 'innoacd', 'Billing 7');
          const user = await createUser(gw, fx.admin, { siteId: fx.siteId, name: 'Never active', status: 'PREPARING' });
          gw.clock.set(at('2026-11-05T08:00:00Z'));
          await setStatus(gw, fx.admin, user, 'INACTIVE');
          gw.clock.set(at('2026-11-15T12:00:00Z'));
          expect(await activeCounts(gw, fx.admin, fx.organizationId)).toEqual({ activeUsers: 0, activeUsersInBillingPeriod: 0 });
        });
      });

      // -------------------------------------------------------------- maxUsers

      // The tests of this block build on each other, in order: 4,999 -> 5,000 -> refused -> race for the freed place.
      describe('[R-TEN-3] XPhone user limit', () => {
        let fx: OrgFixture;
        const createInput = () => ({ input: { siteId: fx.siteId, name: unique('User'), role: 'AGENT' } });

        beforeAll(async () => {
          fx = await createOrg(gw, 'xphone-connect', 'Big XPhone Org');
          // Setup: 4,999 users inserted directly, one multi-row insert each for users and their status
          // history. Columns equal in every row are literals: PGlite's wire parser fails above 32,767
          // bind parameters (10 parameters x 4,999 rows would be 49,990).
          const now = gw.clock.now();
          const ids = Array.from({ length: 4999 }, () => newId(now));
          const organizationId = sql.lit(fx.organizationId);
          await gw.database.db
            .insertInto('users')
            .values(
              ids.map((id, i) => ({
                organization_id: organizationId,
                id,
                site_id: sql.lit(fx.siteId),
                name: `Seeded ${i + 1}`,
                role: sql.lit('AGENT'),
                status: sql.lit('ACTIVE'),
                created_at: now,
              })),
            )
            .execute();
          await gw.database.db
            .insertInto('user_status_history')
            .values(ids.map((id) => ({ organization_id: organizationId, user_id: id, status: sql.lit('ACTIVE'), at: now })))
            .execute();
        });

        async function totalUsers(): Promise<number> {
          const data = await gw.ok(ORG_USERS_PAGE, { id: fx.organizationId, first: 0 }, fx.admin);
          return data.organization.users.totalCount;
        }

        it('[R-TEN-3] accepts the 5000th user of an XPhone organization', async () => {
          expect(await totalUsers()).toBe(4999);
          const result = await gw.gql(CREATE_USER, createInput(), fx.admin);
          expect(result.errors).toBeUndefined();
          expect(await totalUsers()).toBe(5000);
          expect((await activeCounts(gw, fx.admin, fx.organizationId)).activeUsers).toBe(5000);
        });

        it('[R-TEN-3][R-API-2] refuses the 5001st user of an XPhone organization and leaves nothing behind', async () => {
          const before = {
            users: await tableCount(gw, 'users'),
            history: await tableCount(gw, 'user_status_history'),
            events: await tableCount(gw, 'events'),
          };
          for (const status of ['ACTIVE', 'PREPARING']) {
            const result = await gw.gql(CREATE_USER, { input: { ...createInput().input, status } }, fx.admin);
            expectError(result, 'BAD_USER_INPUT', { rule: 'R-TEN-3', message: /at most 5000 users/ });
            expect(result.data).toBeNull();
          }
          expect(await totalUsers()).toBe(5000);
          expect({
            users: await tableCount(gw, 'users'),
            history: await tableCount(gw, 'user_status_history'),
            events: await tableCount(gw, 'events'),
          }).toEqual(before);
        });

        it('[R-TEN-3] a deleted user frees a place; two concurrent createUser calls race for it and exactly one wins', async () => {
          const page = await gw.ok(ORG_USERS_PAGE, { id: fx.organizationId, first: 1 }, fx.admin);
          await removeUser(gw, fx.admin, page.organization.users.edges[0].node.id);
          expect(await totalUsers()).toBe(4999);

          const results = await Promise.all([gw.gql(CREATE_USER, createInput(), fx.admin), gw.gql(CREATE_USER, createInput(), fx.admin)]);
          const won = results.filter((r) => !r.errors);
          const lost = results.filter((r) => r.errors);
          expect(won).toHaveLength(1);
          expect(lost).toHaveLength(1);
          expectError(lost[0]!, 'BAD_USER_INPUT', { rule: 'R-TEN-3' });
          expect(await totalUsers()).toBe(5000);
        });

        it('[R-TEN-3] another organization is not limited by this one', async () => {
          const other = await createOrg(gw, 'xphone-connect', 'Small XPhone Org');
          await expect(createUser(gw, other.admin, { siteId: other.siteId, name: 'First' })).resolves.toEqual(expect.any(String));
        });
      });

      // -------------------------------------------------------------- pagination

      describe('[R-API-3] users pagination', () => {
        let fx: OrgFixture;

        beforeAll(async () => {
          fx = await createOrg(gw, 'innoacd', 'Paging Org');
        });

        /** Creates users one millisecond apart, so that creation order is id order. */
        async function createUsers(
          count: number,
          input: { siteId: string; configurationGroupId?: string },
          token = fx.admin,
        ): Promise<string[]> {
          const ids: string[] = [];
          for (let i = 0; i < count; i++) {
            gw.clock.advance(1);
            ids.push(await createUser(gw, token, { ...input, name: unique('Paged') }));
          }
          return ids;
        }

        /** One page of the organization's, a site's or a user's configuration group's users. */
        async function page(query: string, id: string, first?: number | null, after?: string | null): Promise<UserPage> {
          const result = await gw.gql(query, { id, first, after }, fx.admin);
          expect(result.errors, JSON.stringify(result.errors)).toBeUndefined();
          const data = result.data!;
          return (data.organization ?? data.site ?? data.user.configurationGroup).users;
        }

        async function walk(query: string, id: string, first: number): Promise<{ ids: string[]; pages: number[] }> {
          const ids: string[] = [];
          const pages: number[] = [];
          let after: string | null = null;
          for (;;) {
            const p: UserPage = await page(query, id, first, after);
            ids.push(...p.edges.map((e) => e.node.id));
            pages.push(p.edges.length);
            if (!p.pageInfo.hasNextPage) break;
            expect(p.pageInfo.endCursor).toBe(p.edges.at(-1)!.cursor);
            after = p.pageInfo.endCursor;
          }
          return { ids, pages };
        }

        it('[R-API-3] an organization with no users has an empty first page', async () => {
          const empty = await createOrg(gw, 'innoacd', 'Empty Org');
          const result = await gw.gql(ORG_USERS_PAGE, { id: empty.organizationId }, empty.admin);
          expect(result.data!.organization.users).toEqual({ totalCount: 0, edges: [], pageInfo: { hasNextPage: false, endCursor: null } });
          const site = await gw.gql(SITE_USERS_PAGE, { id: empty.siteId, first: 10 }, empty.admin);
          expect(site.data!.site.users).toEqual({ totalCount: 0, edges: [], pageInfo: { hasNextPage: false, endCursor: null } });
        });

        it('[R-API-3] exact page boundary: 5 users with first 5 has no next page', async () => {
          const ids = await createUsers(5, { siteId: fx.siteId });
          const first = await page(ORG_USERS_PAGE, fx.organizationId, 5);
          expect(first.edges.map((e) => e.node.id)).toEqual(ids);
          expect(first.totalCount).toBe(5);
          expect(first.pageInfo).toEqual({ hasNextPage: false, endCursor: first.edges[4]!.cursor });

          const after = await page(ORG_USERS_PAGE, fx.organizationId, 5, first.pageInfo.endCursor);
          expect(after).toEqual({ totalCount: 5, edges: [], pageInfo: { hasNextPage: false, endCursor: null } });

          const four = await page(ORG_USERS_PAGE, fx.organizationId, 4);
          expect(four.edges).toHaveLength(4);
          expect(four.pageInfo.hasNextPage).toBe(true);
        });

        it('[R-API-3] first: 0 returns no edges but the total', async () => {
          const p = await page(ORG_USERS_PAGE, fx.organizationId, 0);
          expect(p.edges).toEqual([]);
          expect(p.totalCount).toBe(5);
          expect(p.pageInfo).toEqual({ hasNextPage: true, endCursor: null });
        });

        it('[R-API-3] walking every page with endCursor yields each user once, in creation order', async () => {
          const more = await createUsers(7, { siteId: fx.siteId });
          const all = (await page(ORG_USERS_PAGE, fx.organizationId, 500)).edges.map((e) => e.node.id);
          expect(all).toHaveLength(12);
          expect(all.slice(5)).toEqual(more);

          const walked = await walk(ORG_USERS_PAGE, fx.organizationId, 5);
          expect(walked.pages).toEqual([5, 5, 2]);
          expect(walked.ids).toEqual(all);
          expect(new Set(walked.ids).size).toBe(12);

          // Without `first` the default page (50) holds all 12.
          const unpaged = await page(ORG_USERS_PAGE, fx.organizationId);
          expect(unpaged.edges.map((e) => e.node.id)).toEqual(all);
          expect(unpaged.pageInfo.hasNextPage).toBe(false);
        });

        it('[R-API-3] totalCount is the whole count on every page', async () => {
          let after: string | null = null;
          for (let i = 0; i < 3; i++) {
            const p: UserPage = await page(ORG_USERS_PAGE, fx.organizationId, 5, after);
            expect(p.totalCount).toBe(12);
            after = p.pageInfo.endCursor;
          }
        });

        it('[R-API-3] site and configuration group connections list only their own users', async () => {
          const siteId = await newSite(gw, fx.admin, fx.organizationId);
          const groupId = await newGroup(gw, fx.admin, siteId, ['ACD_AGENT']);
          const otherGroup = await newGroup(gw, fx.admin, siteId, []);
          const inGroup = await createUsers(3, { siteId, configurationGroupId: groupId });
          const atSite = await createUsers(2, { siteId });
          const inOtherGroup = await createUsers(1, { siteId, configurationGroupId: otherGroup });

          const siteWalk = await walk(SITE_USERS_PAGE, siteId, 2);
          expect(siteWalk.ids).toEqual([...inGroup, ...atSite, ...inOtherGroup]);
          expect(siteWalk.pages).toEqual([2, 2, 2]);
          expect((await page(SITE_USERS_PAGE, siteId, 1)).totalCount).toBe(6);
          expect((await page(SITE_USERS_PAGE, fx.siteId, 1)).totalCount).toBe(12);

          const groupWalk = await walk(GROUP_USERS_PAGE, inGroup[0]!, 2);
          expect(groupWalk.ids).toEqual(inGroup);
          expect(groupWalk.pages).toEqual([2, 1]);
          expect((await page(GROUP_USERS_PAGE, inGroup[0]!, 1)).totalCount).toBe(3);
          expect((await page(GROUP_USERS_PAGE, inOtherGroup[0]!)).edges.map((e) => e.node.id)).toEqual(inOtherGroup);

          expect((await page(ORG_USERS_PAGE, fx.organizationId, 0)).totalCount).toBe(18);
        });

        it('[R-API-3] first above 500 or below 0 is refused; 500 is allowed', async () => {
          for (const first of [501, 10_000, -1]) {
            const result = await gw.gql(ORG_USERS_PAGE, { id: fx.organizationId, first }, fx.admin);
            expectError(result, 'BAD_USER_INPUT', { field: 'first', message: /between 0 and 500/, rule: 'R-API-3' });
          }
          const site = await gw.gql(SITE_USERS_PAGE, { id: fx.siteId, first: 501 }, fx.admin);
          expectError(site, 'BAD_USER_INPUT', { field: 'first', rule: 'R-API-3' });
          expect((await page(ORG_USERS_PAGE, fx.organizationId, 500)).edges).toHaveLength(18);
        });

        it('[R-API-1] a cursor that this connection did not hand out is refused, naming `after`', async () => {
          const forged = [
            'not-a-cursor',
            Buffer.from('c:not-a-uuid').toString('base64url'),
            Buffer.from(`x:${newId()}`).toString('base64url'),
            '',
          ];
          for (const after of forged) {
            const result = await gw.gql(ORG_USERS_PAGE, { id: fx.organizationId, first: 5, after }, fx.admin);
            expectError(result, 'BAD_USER_INPUT', { field: 'after', message: /not a cursor/ });
          }
        });
      });
    });
  }
});
