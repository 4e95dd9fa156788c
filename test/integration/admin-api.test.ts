import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATABASES } from '../support/databases.ts';
import { codeOf, createOrg, createUser, type Result, startGateway, type TestGateway } from '../support/gateway.ts';
import {
  activateKey,
  createGroup,
  createTeam,
  createUsers,
  issueLicenseKey,
  licensedOrg,
  mappingRow,
  statusesOf,
  TRUSTED_KEYS,
} from '../support/licensing.ts';

/*
 * [admin-api] The admin API is complete: every object can be read, listed,
 * changed and removed (one transaction each, the rules of creation), found
 * by id through Query.node/nodes (Relay), paged both ways, and users come in
 * bulk through importUsers.
 */

const STORM = 'connect-storm';
const XPHONE = 'xphone-connect';
const DAY = 86_400_000;

function refusal(result: Result) {
  const e = result.errors?.[0];
  return { code: e?.extensions?.code, field: e?.extensions?.field, rule: e?.extensions?.rule, message: e?.message };
}

const NODE = `query($id: ID!) { node(id: $id) { __typename id ... on User { name } ... on Site { name } ... on ApiToken { label } } }`;
const NODES = `query($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }`;

for (const kind of DATABASES) {
  describe(`[admin-api] on ${kind}`, () => {
    let gw: TestGateway;

    beforeAll(async () => {
      gw = await startGateway(kind, { trustedKeys: TRUSTED_KEYS });
    });
    afterAll(async () => {
      await gw?.close();
    });

    it("[admin-api][R-SEC-2] node and nodes find any object by its existing id, only within the caller's organization", async () => {
      const org = await licensedOrg(gw, STORM, [{ product: 'BASE', quantity: 10 }]);
      const other = await licensedOrg(gw, STORM, [{ product: 'BASE', quantity: 10 }]);
      const user = await createUser(gw, org.admin, { siteId: org.siteId, name: 'Ada' });
      const stranger = await createUser(gw, other.admin, { siteId: other.siteId, name: 'Eve' });
      const group = await createGroup(gw, org, 'Agents', ['BASE']);
      const team = await createTeam(gw, org, 'Blue');
      const tokens = await gw.ok<{ organization: { apiTokens: { edges: { node: { id: string; label: string } }[] } } }>(
        `query($id: ID!) { organization(id: $id) { apiTokens(first: 10) { edges { node { id label } } } } }`,
        { id: org.organizationId },
        org.admin,
      );
      const tokenId = tokens.organization.apiTokens.edges.find((e) => e.node.label === 'supervisor')!.node.id;

      expect((await gw.ok(NODE, { id: user }, org.admin)).node).toEqual({ __typename: 'User', id: user, name: 'Ada' });
      expect((await gw.ok(NODE, { id: org.siteId }, org.tokens.SUPERVISOR)).node).toEqual({
        __typename: 'Site',
        id: org.siteId,
        name: 'Headquarters',
      });
      const all = await gw.ok<{ nodes: ({ __typename: string; id: string } | null)[] }>(
        NODES,
        { ids: [org.organizationId, org.siteId, group, team, user, tokenId, stranger, other.siteId, 'not-an-id'] },
        org.admin,
      );
      expect(all.nodes.map((n) => n?.__typename ?? null)).toEqual([
        'Organization',
        'Site',
        'ConfigurationGroup',
        'Team',
        'User',
        'ApiToken',
        null,
        null,
        null,
      ]);
      // Another organization's object is null, exactly like an unknown id.
      expect(await gw.ok(NODE, { id: stranger }, org.admin)).toEqual({ node: null });
      // A SUPERVISOR does not read API tokens: the token is not looked for.
      expect(await gw.ok(NODE, { id: tokenId }, org.tokens.SUPERVISOR)).toEqual({ node: null });
      // The operator finds any organization's objects.
      expect((await gw.ok(NODE, { id: stranger })).node).toMatchObject({ __typename: 'User', id: stranger });
      // AGENT_CLIENT needs no lookup by id.
      expect(codeOf(await gw.gql(NODE, { id: user }, org.tokens.AGENT_CLIENT))).toBe('FORBIDDEN');
      const many = await gw.gql(NODES, { ids: Array.from({ length: 101 }, () => user) }, org.admin);
      expect(refusal(many)).toMatchObject({ code: 'BAD_USER_INPUT', field: 'ids', rule: 'R-SEC-3' });
    });

    it('[admin-api] API tokens are listed with label, role, created, last use and expiry; revoking answers the revoked token', async () => {
      const org = await createOrg(gw, STORM);
      const created = await gw.ok(
        `mutation($input: CreateApiTokenInput!) { createApiToken(input: $input) { token apiToken { id } } }`,
        { input: { organizationId: org.organizationId, role: 'INTEGRATOR', label: 'crm', expiresInDays: 30 } },
        org.admin,
      );
      const id = created.createApiToken.apiToken.id;
      await gw.ok('{ viewer { kind } }', {}, created.createApiToken.token);
      const LIST = `query($id: ID!) { organization(id: $id) { apiTokens(first: 10) { edges { node { id label role createdAt lastUsedAt expiresAt revokedAt } } } } }`;
      const list = await gw.ok(LIST, { id: org.organizationId }, org.admin);
      const token = list.organization.apiTokens.edges
        .map((e: { node: Record<string, unknown> }) => e.node)
        .find((n: { id: string }) => n.id === id);
      expect(token).toMatchObject({ label: 'crm', role: 'INTEGRATOR', revokedAt: null });
      expect(token.lastUsedAt).not.toBeNull();
      expect(token.expiresAt).not.toBeNull();
      const revoked = await gw.ok(
        `mutation($input: RevokeApiTokenInput!) { revokeApiToken(input: $input) { apiTokenId apiToken { id revokedAt } } }`,
        { input: { apiTokenId: id } },
        org.admin,
      );
      expect(revoked.revokeApiToken.apiToken.id).toBe(id);
      expect(revoked.revokeApiToken.apiToken.revokedAt).not.toBeNull();
      expect(codeOf(await gw.gql(LIST, { id: org.organizationId }, org.tokens.SUPERVISOR))).toBe('FORBIDDEN');
    });

    it('[admin-api][R-API-3] sites, teams and team members are connections paged forward and backward', async () => {
      const org = await licensedOrg(gw, STORM, [{ product: 'BASE', quantity: 20 }]);
      const sites = [org.siteId];
      for (const name of ['B', 'C', 'D', 'E']) {
        const created = await gw.ok<{ createSite: { site: { id: string } } }>(
          `mutation($input: CreateSiteInput!) { createSite(input: $input) { site { id } } }`,
          { input: { organizationId: org.organizationId, name } },
          org.admin,
        );
        sites.push(created.createSite.site.id);
      }
      const PAGE = `query($id: ID!, $first: Int, $after: String, $last: Int, $before: String) {
        organization(id: $id) { siteConnection(first: $first, after: $after, last: $last, before: $before) {
          edges { cursor node { id } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } } }`;
      type Page = {
        organization: {
          siteConnection: {
            edges: { cursor: string; node: { id: string } }[];
            pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; startCursor: string | null; endCursor: string | null };
          };
        };
      };
      const first = await gw.ok<Page>(PAGE, { id: org.organizationId, first: 2 }, org.tokens.SUPERVISOR);
      expect(first.organization.siteConnection.edges.map((e) => e.node.id)).toEqual(sites.slice(0, 2));
      expect(first.organization.siteConnection.pageInfo).toMatchObject({ hasNextPage: true, hasPreviousPage: false });
      const next = await gw.ok<Page>(PAGE, {
        id: org.organizationId,
        first: 2,
        after: first.organization.siteConnection.pageInfo.endCursor,
      });
      expect(next.organization.siteConnection.edges.map((e) => e.node.id)).toEqual(sites.slice(2, 4));
      // Backward: the last two, then the two before them.
      const last = await gw.ok<Page>(PAGE, { id: org.organizationId, last: 2 });
      expect(last.organization.siteConnection.edges.map((e) => e.node.id)).toEqual(sites.slice(3, 5));
      expect(last.organization.siteConnection.pageInfo).toMatchObject({ hasPreviousPage: true, hasNextPage: false });
      const before = await gw.ok<Page>(PAGE, {
        id: org.organizationId,
        last: 2,
        before: last.organization.siteConnection.pageInfo.startCursor,
      });
      expect(before.organization.siteConnection.edges.map((e) => e.node.id)).toEqual(sites.slice(1, 3));
      const empty = await gw.ok<Page>(PAGE, { id: org.organizationId, first: 0 });
      expect(empty.organization.siteConnection.pageInfo).toMatchObject({ startCursor: null, endCursor: null });
      expect(refusal(await gw.gql(PAGE, { id: org.organizationId, last: 501 }))).toMatchObject({ code: 'BAD_USER_INPUT', field: 'last' });
      expect(refusal(await gw.gql(PAGE, { id: org.organizationId, first: 1, last: 1 }))).toMatchObject({ code: 'BAD_USER_INPUT' });
      expect(refusal(await gw.gql(PAGE, { id: org.organizationId, before: 'nope' }))).toMatchObject({
        code: 'BAD_USER_INPUT',
        field: 'before',
      });

      const team = await createTeam(gw, org, 'Blue');
      const members = await createUsers(gw, org, 3, { teamId: team });
      const MEMBERS = `query($id: ID!, $last: Int) { team(id: $id) { memberConnection(last: $last) { totalCount edges { node { id } } } } }`;
      const page = await gw.ok<{ team: { memberConnection: { totalCount: number; edges: { node: { id: string } }[] } } }>(MEMBERS, {
        id: team,
        last: 2,
      });
      expect(page.team.memberConnection).toEqual({ totalCount: 3, edges: members.slice(1).map((id) => ({ node: { id } })) });
      const teams = await gw.ok<{ organization: { teamConnection: { edges: { node: { id: string } }[] } } }>(
        `query($id: ID!) { organization(id: $id) { teamConnection(first: 5) { edges { node { id } } } } }`,
        { id: org.organizationId },
      );
      expect(teams.organization.teamConnection.edges).toEqual([{ node: { id: team } }]);
    });

    it('[admin-api] the operator renames an organization and sets its customer reference once', async () => {
      const org = await createOrg(gw, STORM, 'Old name', null);
      const UPDATE = `mutation($input: UpdateOrganizationInput!) { updateOrganization(input: $input) { organization { id name customerRef } } }`;
      const renamed = await gw.ok(UPDATE, { input: { organizationId: org.organizationId, name: 'New name', customerRef: 'CUST-ADMIN-1' } });
      expect(renamed.updateOrganization.organization).toEqual({ id: org.organizationId, name: 'New name', customerRef: 'CUST-ADMIN-1' });
      // The same reference again is no change; another one is refused naming the rule.
      expect((await gw.gql(UPDATE, { input: { organizationId: org.organizationId, customerRef: 'CUST-ADMIN-1' } })).errors).toBeUndefined();
      const again = await gw.gql(UPDATE, { input: { organizationId: org.organizationId, customerRef: 'CUST-ADMIN-2' } });
      expect(refusal(again)).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.customerRef', rule: 'ADMIN-REF-1' });
      const bad = await gw.gql(UPDATE, { input: { organizationId: org.organizationId, name: ' ' } });
      expect(refusal(bad)).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.name' });
      // An organization's own ADMIN may not rename it.
      expect(codeOf(await gw.gql(UPDATE, { input: { organizationId: org.organizationId, name: 'X' } }, org.admin))).toBe('FORBIDDEN');
      const taken = await createOrg(gw, STORM, 'Other', null);
      const clash = await gw.gql(UPDATE, { input: { organizationId: taken.organizationId, customerRef: 'CUST-ADMIN-1' } });
      expect(refusal(clash)).toMatchObject({ code: 'BAD_USER_INPUT', rule: 'R-KEY-3' });
    });

    it('[admin-api] deleting a site with users is refused without a target; dryRun reports the licences that change; then it moves and deletes', async () => {
      const org = await licensedOrg(gw, STORM, [
        { product: 'BASE', quantity: 10 },
        { product: 'VOICE', quantity: 10 },
      ]);
      const group = await createGroup(gw, org, 'Voice', ['BASE', 'VOICE']);
      const users = await createUsers(gw, org, 2, { configurationGroupId: group });
      const target = await gw.ok<{ createSite: { site: { id: string } } }>(
        `mutation($input: CreateSiteInput!) { createSite(input: $input) { site { id } } }`,
        { input: { organizationId: org.organizationId, name: 'Branch' } },
        org.admin,
      );
      const targetSite = target.createSite.site.id;
      const targetGroup = await createGroup(gw, org, 'Base only', ['BASE'], [], targetSite);
      const DELETE = `mutation($input: DeleteSiteInput!) { deleteSite(input: $input) {
        applied deletedId consequences { applied users { id site { id } } released { user { id } product { code } } } } }`;

      const refused = await gw.gql(DELETE, { input: { siteId: org.siteId } }, org.admin);
      expect(refusal(refused)).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.moveUsersToSiteId', rule: 'ADMIN-DELETE-1' });

      const dry = await gw.ok(
        DELETE,
        { input: { siteId: org.siteId, moveUsersToSiteId: targetSite, moveUsersToConfigurationGroupId: targetGroup, dryRun: true } },
        org.admin,
      );
      expect(dry.deleteSite.applied).toBe(false);
      expect(dry.deleteSite.consequences.applied).toBe(false);
      expect(dry.deleteSite.consequences.users.map((u: { id: string }) => u.id).sort()).toEqual([...users].sort());
      expect(dry.deleteSite.consequences.released.map((r: { product: { code: string } }) => r.product.code)).toEqual(['VOICE', 'VOICE']);
      // Nothing changed.
      expect(await statusesOf(gw, org, users[0]!)).toEqual({ BASE: 'GRANTED', VOICE: 'GRANTED' });
      expect((await gw.ok(NODE, { id: org.siteId }, org.admin)).node).not.toBeNull();

      const done = await gw.ok(
        DELETE,
        { input: { siteId: org.siteId, moveUsersToSiteId: targetSite, moveUsersToConfigurationGroupId: targetGroup } },
        org.admin,
      );
      expect(done.deleteSite).toMatchObject({ applied: true, deletedId: org.siteId });
      expect(await statusesOf(gw, org, users[0]!)).toEqual({ BASE: 'GRANTED' });
      expect((await gw.ok(NODE, { id: org.siteId }, org.admin)).node).toBeNull();
      expect((await gw.ok(NODE, { id: group }, org.admin)).node).toBeNull();
      expect(await mappingRow(gw, org, 'VOICE')).toMatchObject({ inUse: 0 });
      // SUPERVISOR changes nothing.
      expect(codeOf(await gw.gql(DELETE, { input: { siteId: targetSite } }, org.tokens.SUPERVISOR))).toBe('FORBIDDEN');
    });

    it('[admin-api][R-REASSIGN-1] a move the base licences forbid is refused with the rule, and nothing of it remains', async () => {
      const org = await licensedOrg(gw, STORM, [{ product: 'BASE', quantity: 1 }]);
      const withBase = await createGroup(gw, org, 'Base', ['BASE']);
      const none = await createGroup(gw, org, 'None', []);
      const [holder] = await createUsers(gw, org, 1, { configurationGroupId: withBase });
      const [other] = await createUsers(gw, org, 1, { configurationGroupId: none });
      const UPDATE = `mutation($input: UpdateUserInput!) { updateUser(input: $input) { applied user { id name } } }`;
      const refused = await gw.gql(UPDATE, { input: { userId: other, configurationGroupId: withBase, name: 'Renamed' } }, org.admin);
      expect(refusal(refused)).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.configurationGroupId', rule: 'R-REASSIGN-1' });
      expect(refused.errors?.[0]?.message).toContain('BASE');
      expect((await gw.ok(NODE, { id: other }, org.admin)).node.name).not.toBe('Renamed');
      // The early reassignment: the holder leaves BASE, the other takes it over once.
      gw.clock.advance(DAY);
      await gw.ok(UPDATE, { input: { userId: holder, configurationGroupId: none } }, org.admin);
      await gw.ok(UPDATE, { input: { userId: other, configurationGroupId: withBase } }, org.admin);
      expect(await statusesOf(gw, org, other!)).toEqual({ BASE: 'GRANTED' });
    });

    it('[admin-api][R-NAMED-4] updateUser renames, changes e-mail, role, site, group and team; dryRun reports the move', async () => {
      const org = await licensedOrg(gw, STORM, [
        { product: 'BASE', quantity: 10 },
        { product: 'VOICE', quantity: 10 },
      ]);
      const voice = await createGroup(gw, org, 'Voice', ['BASE', 'VOICE']);
      const base = await createGroup(gw, org, 'Base', ['BASE']);
      const team = await createTeam(gw, org, 'Red');
      const user = await createUser(gw, org.admin, { siteId: org.siteId, name: 'Ada', configurationGroupId: voice });
      const UPDATE = `mutation($input: UpdateUserInput!) { updateUser(input: $input) {
        applied user { name email role team { id } configurationGroup { id } } consequences { released { product { code } } } } }`;
      const dry = await gw.ok(UPDATE, { input: { userId: user, configurationGroupId: base, dryRun: true } }, org.admin);
      expect(dry.updateUser).toMatchObject({ applied: false, consequences: { released: [{ product: { code: 'VOICE' } }] } });
      expect(await statusesOf(gw, org, user)).toEqual({ BASE: 'GRANTED', VOICE: 'GRANTED' });

      const done = await gw.ok(
        UPDATE,
        { input: { userId: user, name: 'Ada L.', email: 'ada@example.com', role: 'SUPERVISOR', teamId: team, configurationGroupId: base } },
        org.admin,
      );
      expect(done.updateUser).toMatchObject({
        applied: true,
        user: { name: 'Ada L.', email: 'ada@example.com', role: 'SUPERVISOR', team: { id: team }, configurationGroup: { id: base } },
      });
      expect(await statusesOf(gw, org, user)).toEqual({ BASE: 'GRANTED' });
      const cleared = await gw.ok(UPDATE, { input: { userId: user, email: null, teamId: null } }, org.admin);
      expect(cleared.updateUser.user).toMatchObject({ email: null, team: null, configurationGroup: { id: base } });
      expect(refusal(await gw.gql(UPDATE, { input: { userId: user, email: 'nope' } }, org.admin))).toMatchObject({ field: 'input.email' });
      const foreign = await licensedOrg(gw, STORM, [{ product: 'BASE', quantity: 1 }]);
      expect(refusal(await gw.gql(UPDATE, { input: { userId: user, siteId: foreign.siteId } }, org.admin))).toMatchObject({
        code: 'BAD_USER_INPUT',
        field: 'input.siteId',
      });
      expect(codeOf(await gw.gql(UPDATE, { input: { userId: user, name: 'X' } }, foreign.admin))).toBe('NOT_FOUND');
    });

    it('[admin-api][R-ANALYTICS-1] team members and leader are set after creation: the leader needs no analytics licence', async () => {
      const org = await licensedOrg(gw, XPHONE, [
        { product: 'SERVER', quantity: 1 },
        { product: 'OFFICE_PLUS', quantity: 10 },
        { product: 'TEAMDESK', quantity: 10 },
      ]);
      const desk = await createGroup(gw, org, 'Desk', ['OFFICE_PLUS', 'TEAMDESK']);
      const members = await createUsers(gw, org, 2, { configurationGroupId: desk });
      const [lead] = await createUsers(gw, org, 1, { prefix: 'Lead' });
      const team = await createTeam(gw, org, 'Support');
      const ACCESS = `query($id: ID!) { team(id: $id) { name leader { id } members { id } analyticsAccess { allowed membersRequiringLicense } } }`;
      await gw.ok(
        `mutation($input: TeamMembersInput!) { addTeamMembers(input: $input) { team { id } } }`,
        { input: { teamId: team, userIds: [...members, lead] } },
        org.admin,
      );
      let read = await gw.ok(ACCESS, { id: team }, org.admin);
      expect(read.team.analyticsAccess).toEqual({ allowed: false, membersRequiringLicense: 3 });
      await gw.ok(
        `mutation($input: SetTeamLeaderInput!) { setTeamLeader(input: $input) { team { leader { id } } } }`,
        { input: { teamId: team, leaderId: lead } },
        org.admin,
      );
      read = await gw.ok(ACCESS, { id: team }, org.admin);
      expect(read.team).toMatchObject({ leader: { id: lead }, analyticsAccess: { allowed: true, membersRequiringLicense: 2 } });
      await gw.ok(
        `mutation($input: RenameTeamInput!) { renameTeam(input: $input) { team { name } } }`,
        { input: { teamId: team, name: 'Service' } },
        org.admin,
      );
      await gw.ok(
        `mutation($input: TeamMembersInput!) { removeTeamMembers(input: $input) { team { id } } }`,
        { input: { teamId: team, userIds: [lead] } },
        org.admin,
      );
      read = await gw.ok(ACCESS, { id: team }, org.admin);
      expect(read.team).toMatchObject({ name: 'Service', leader: null });
      expect(read.team.members.map((m: { id: string }) => m.id)).toEqual(members);

      const DELETE = `mutation($input: DeleteTeamInput!) { deleteTeam(input: $input) { applied deletedTeamId movedUsers { id } } }`;
      expect(refusal(await gw.gql(DELETE, { input: { teamId: team } }, org.admin))).toMatchObject({
        field: 'input.moveMembersToTeamId',
        rule: 'ADMIN-DELETE-1',
      });
      const other = await createTeam(gw, org, 'Other');
      const dry = await gw.ok(DELETE, { input: { teamId: team, moveMembersToTeamId: other, dryRun: true } }, org.admin);
      expect(dry.deleteTeam.applied).toBe(false);
      expect((await gw.ok(NODE, { id: team }, org.admin)).node).not.toBeNull();
      const done = await gw.ok(DELETE, { input: { teamId: team, moveMembersToTeamId: other } }, org.admin);
      expect(done.deleteTeam.movedUsers.map((m: { id: string }) => m.id)).toEqual(members);
      expect((await gw.ok(NODE, { id: team }, org.admin)).node).toBeNull();
    });

    it('[admin-api] configuration groups are renamed and deleted with a target for their members', async () => {
      const org = await licensedOrg(gw, STORM, [{ product: 'BASE', quantity: 10 }]);
      const a = await createGroup(gw, org, 'A', ['BASE']);
      const b = await createGroup(gw, org, 'B', ['BASE']);
      const [u] = await createUsers(gw, org, 1, { configurationGroupId: a });
      const RENAME = `mutation($input: RenameConfigurationGroupInput!) { renameConfigurationGroup(input: $input) { configurationGroup { name } } }`;
      expect(refusal(await gw.gql(RENAME, { input: { configurationGroupId: a, name: 'B' } }, org.admin))).toMatchObject({
        field: 'input.name',
      });
      expect((await gw.ok(RENAME, { input: { configurationGroupId: a, name: 'Agents' } }, org.admin)).renameConfigurationGroup).toEqual({
        configurationGroup: { name: 'Agents' },
      });
      const DELETE = `mutation($input: DeleteConfigurationGroupInput!) { deleteConfigurationGroup(input: $input) { applied deletedId consequences { users { id } released { product { code } } } } }`;
      expect(refusal(await gw.gql(DELETE, { input: { configurationGroupId: a } }, org.admin))).toMatchObject({ rule: 'ADMIN-DELETE-1' });
      const done = await gw.ok(DELETE, { input: { configurationGroupId: a, moveUsersToConfigurationGroupId: b } }, org.admin);
      expect(done.deleteConfigurationGroup).toEqual({ applied: true, deletedId: a, consequences: { users: [{ id: u }], released: [] } });
      expect(await statusesOf(gw, org, u!)).toEqual({ BASE: 'GRANTED' });
      // An empty group goes without a target.
      const c = await createGroup(gw, org, 'C', []);
      expect((await gw.ok(DELETE, { input: { configurationGroupId: c } }, org.admin)).deleteConfigurationGroup).toEqual({
        applied: true,
        deletedId: c,
        consequences: null,
      });
    });

    it('[admin-api][R-KEY-4] the history of activated keys shows each key with its state', async () => {
      const org = await createOrg(gw, STORM);
      await activateKey(gw, org, issueLicenseKey(STORM, [{ product: 'BASE', quantity: 1 }], { org, keyId: `old-${org.organizationId}` }));
      await activateKey(gw, org, issueLicenseKey(STORM, [{ product: 'BASE', quantity: 2 }], { org, keyId: `now-${org.organizationId}` }));
      const later = new Date(gw.clock.now().getTime() + 30 * DAY).toISOString();
      const key = issueLicenseKey(STORM, [{ product: 'BASE', quantity: 3 }], {
        org,
        keyId: `next-${org.organizationId}`,
        validFrom: later,
      });
      await gw.ok(
        `mutation($input: ActivateLicenseKeyInput!) { activateLicenseKey(input: $input) { license { state } } }`,
        { input: { organizationId: org.organizationId, key } },
        org.admin,
      );
      const HISTORY = `query($id: ID!) { organization(id: $id) { licenseKeys { keyId state activatedBy validFrom } } }`;
      const history = await gw.ok(HISTORY, { id: org.organizationId }, org.admin);
      expect(history.organization.licenseKeys.map((k: { keyId: string; state: string }) => [k.keyId.split('-')[0], k.state])).toEqual([
        ['next', 'PENDING'],
        ['now', 'GOVERNING'],
        ['old', 'SUPERSEDED'],
      ]);
      expect(history.organization.licenseKeys[0].activatedBy).toMatch(/^token:/);
      // When the term and grace of the governing key are over (and no other took over), it is EXPIRED.
      const lone = await createOrg(gw, STORM);
      const short = issueLicenseKey(STORM, [{ product: 'BASE', quantity: 1 }], { org: lone, termMonths: 1 });
      await gw.ok(
        `mutation($input: ActivateLicenseKeyInput!) { activateLicenseKey(input: $input) { license { state } } }`,
        { input: { organizationId: lone.organizationId, key: short } },
        lone.admin,
      );
      expect((await gw.ok(HISTORY, { id: lone.organizationId }, lone.admin)).organization.licenseKeys[0].state).toBe('GOVERNING');
      gw.clock.advance(200 * DAY);
      const expired = await gw.ok(HISTORY, { id: lone.organizationId }, lone.admin);
      expect(expired.organization.licenseKeys.map((k: { state: string }) => k.state)).toEqual(['EXPIRED']);
      expect(codeOf(await gw.gql(HISTORY, { id: org.organizationId }, org.tokens.SUPERVISOR))).toBe('FORBIDDEN');
    });

    it('[admin-api] importUsers creates every row in one transaction or none, answering each row', async () => {
      const org = await licensedOrg(gw, STORM, [{ product: 'BASE', quantity: 3 }]);
      await createGroup(gw, org, 'Agents', ['BASE']);
      await createTeam(gw, org, 'Blue');
      const IMPORT = `mutation($input: ImportUsersInput!) { importUsers(input: $input) { applied created refused rows { index created userId field rule message } } }`;
      const row = (i: number, extra: Record<string, unknown> = {}) => ({
        name: `Imported ${i}`,
        email: `u${i}@example.com`,
        site: 'headquarters',
        configurationGroup: 'Agents',
        team: 'Blue',
        role: 'AGENT',
        ...extra,
      });
      const bad = await gw.ok(
        IMPORT,
        { input: { organizationId: org.organizationId, users: [row(1), row(2, { site: 'Mars' }), row(3, { email: 'u1@example.com' })] } },
        org.admin,
      );
      expect(bad.importUsers).toMatchObject({ applied: false, created: 0, refused: 2 });
      expect(
        bad.importUsers.rows.map((r: { created: boolean; field: string | null; rule: string | null }) => [r.created, r.field, r.rule]),
      ).toEqual([
        [false, null, null],
        [false, 'input.users[1].site', 'ADMIN-IMPORT-1'],
        [false, 'input.users[2].email', 'ADMIN-IMPORT-1'],
      ]);
      const count = async () =>
        (await gw.ok(`query($id: ID!) { organization(id: $id) { users { totalCount } } }`, { id: org.organizationId }, org.admin))
          .organization.users.totalCount;
      expect(await count()).toBe(0);

      // Base licences hold for the batch: four users need BASE, three are bought.
      const over = await gw.gql(
        IMPORT,
        { input: { organizationId: org.organizationId, users: [1, 2, 3, 4].map((i) => row(i)) } },
        org.admin,
      );
      expect(refusal(over)).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.users', rule: 'R-REASSIGN-1' });
      expect(await count()).toBe(0);

      const dry = await gw.ok(
        IMPORT,
        { input: { organizationId: org.organizationId, users: [1, 2, 3].map((i) => row(i)), dryRun: true } },
        org.admin,
      );
      expect(dry.importUsers).toMatchObject({ applied: false, created: 3, refused: 0 });
      expect(await count()).toBe(0);

      const done = await gw.ok(IMPORT, { input: { organizationId: org.organizationId, users: [1, 2, 3].map((i) => row(i)) } }, org.admin);
      expect(done.importUsers).toMatchObject({ applied: true, created: 3, refused: 0 });
      expect(await count()).toBe(3);
      expect(await statusesOf(gw, org, done.importUsers.rows[0].userId)).toEqual({ BASE: 'GRANTED' });
      const again = await gw.ok(IMPORT, { input: { organizationId: org.organizationId, users: [row(1)] } }, org.admin);
      expect(again.importUsers.rows[0]).toMatchObject({ field: 'input.users[0].email', rule: 'ADMIN-IMPORT-1' });
      expect(codeOf(await gw.gql(IMPORT, { input: { organizationId: org.organizationId, users: [row(9)] } }, org.tokens.SUPERVISOR))).toBe(
        'FORBIDDEN',
      );
      expect(refusal(await gw.gql(IMPORT, { input: { organizationId: org.organizationId, users: [] } }, org.admin))).toMatchObject({
        field: 'input.users',
      });
    });
  });
}
