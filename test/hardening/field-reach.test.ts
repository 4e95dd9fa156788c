import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATABASES } from '../support/databases.ts';
import { startGateway, createOrg, createUser, type OrgFixture, type TestGateway } from '../support/gateway.ts';
import { TRUSTED_KEYS, activateKey, createGroup, issueLicenseKey } from '../support/licensing.ts';
import { listenOn } from '../support/listen.ts';

/*
 * The reported leaks (R-SEC-5): an AGENT_CLIENT token read the whole
 * organization through `viewer { organization { … } }` and through mutation
 * payloads (`startSession { session { user { site { organization { … } } } } }`).
 * These run over a listening socket, exactly as the report's requests did.
 */

const SECRETS = {
  customerRef: 'CUST-LEAK-7',
  keyId: 'KEY-LEAK-7',
  adaEmail: 'ada.leak@example.test',
  bobName: 'Bob Otheruser',
  bobEmail: 'bob.other@example.test',
};

const VIEWER_LEAK = `{
  viewer {
    kind role
    organization {
      id name customerRef
      users(first: 50) { totalCount edges { node { id name email } } }
      events(first: 50) { edges { node { type actor detail user { name email } } } }
      license { keyId entitlements { product { code } quantity total } }
    }
  }
}`;

const START_LEAK = `mutation($input: StartSessionInput!) {
  startSession(input: $input) {
    granted
    session {
      id
      user { id name site { organization { name customerRef users(first: 50) { edges { node { name email } } } } } }
    }
  }
}`;

const START_OK = `mutation($input: StartSessionInput!) {
  startSession(input: $input) {
    granted denial { code message } grantedChannels deniedChannels { channel code message }
    session { id seatKind startedAt expiresAt endedAt endReason channels deviceId user { id name } }
  }
}`;

const HEARTBEAT_LEAK = `mutation($input: HeartbeatInput!) { heartbeat(input: $input) { session { id expiresAt user { id name email } } } }`;

type Errors = { message: string; extensions?: { code?: string; rule?: string; field?: string } }[] | undefined;

/** Every error is an R-SEC-5 refusal naming a field; returns the fields named. */
function refusedFields(errors: Errors): string[] {
  expect(errors?.length ?? 0).toBeGreaterThan(0);
  for (const error of errors!) {
    expect(error.extensions).toMatchObject({ code: 'FORBIDDEN', rule: 'R-SEC-5' });
    expect(error.message).toContain(error.extensions!.field!);
    expect(error.message).toContain('R-SEC-5');
  }
  return errors!.map((e) => e.extensions!.field!);
}

function expectNoSecret(text: string): void {
  for (const [what, value] of Object.entries(SECRETS)) expect(text, what).not.toContain(value);
}

for (const kind of DATABASES) {
  describe(`${kind}: [R-SEC-5] an AGENT_CLIENT token reads only what an ACD back end needs`, () => {
    let gw: TestGateway;
    let org: OrgFixture;
    let base: string;
    let ada: string;

    /** POST over the socket, as the report did. */
    async function post(query: string, variables: Record<string, unknown>, token: string) {
      const response = await fetch(`${base}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ query, variables }),
      });
      const text = await response.text();
      return { status: response.status, text, body: JSON.parse(text) as { data?: Record<string, any> | null; errors?: Errors } };
    }

    beforeAll(async () => {
      gw = await startGateway(kind, { trustedKeys: TRUSTED_KEYS });
      const address = await listenOn(gw);
      base = `http://127.0.0.1:${address.port}`;
      org = await createOrg(gw, 'innoacd', 'Leaky Contact Center', SECRETS.customerRef);
      await activateKey(
        gw,
        org,
        issueLicenseKey('innoacd', [{ product: 'ACD_AGENT', quantity: 3 }], { customerRef: SECRETS.customerRef, keyId: SECRETS.keyId }),
      );
      const group = await createGroup(gw, org, 'Agents', ['ACD_AGENT']);
      ada = await createUser(gw, org.admin, {
        siteId: org.siteId,
        name: 'Ada Agent',
        email: SECRETS.adaEmail,
        configurationGroupId: group,
      });
      await createUser(gw, org.admin, { siteId: org.siteId, name: SECRETS.bobName, email: SECRETS.bobEmail, configurationGroupId: group });
    });
    afterAll(() => gw.close());

    it('viewer { organization { users events license … } }: refused field by field, nothing of the organization in the answer', async () => {
      const { status, text, body } = await post(VIEWER_LEAK, {}, org.tokens.AGENT_CLIENT);
      expect(status).toBe(200);
      expectNoSecret(text);
      // Organization.name is non-null: its refusal nulls the nullable Viewer.organization.
      expect(body.data).toEqual({ viewer: { kind: 'TOKEN', role: 'AGENT_CLIENT', organization: null } });
      for (const field of refusedFields(body.errors)) expect(field).toMatch(/^Organization\./);
    });

    it('each organization field of the report is refused on its own', async () => {
      for (const [selection, field] of [
        ['customerRef', 'Organization.customerRef'],
        ['users(first: 5) { edges { node { email } } }', 'Organization.users'],
        ['events(first: 5) { edges { node { actor } } }', 'Organization.events'],
        ['license { keyId }', 'Organization.license'],
      ] as const) {
        const { text, body } = await post(`{ viewer { organization { id ${selection} } } }`, {}, org.tokens.AGENT_CLIENT);
        expectNoSecret(text);
        expect(refusedFields(body.errors), selection).toEqual([field]);
        expect(body.data).toEqual({
          viewer: { organization: customerRefIsNullable(field) ? { id: org.organizationId, customerRef: null } : null },
        });
      }
    });

    it('viewer { kind role organization { id } } is answered in full', async () => {
      const { body } = await post('{ viewer { kind role organization { id } } }', {}, org.tokens.AGENT_CLIENT);
      expect(body.errors).toBeUndefined();
      expect(body.data).toEqual({ viewer: { kind: 'TOKEN', role: 'AGENT_CLIENT', organization: { id: org.organizationId } } });
    });

    it('startSession { session { user { site { organization { users … } } } } }: the seat is taken, the organization is refused', async () => {
      const { text, body } = await post(START_LEAK, { input: { userId: ada } }, org.tokens.AGENT_CLIENT);
      expectNoSecret(text);
      expect(text).not.toContain('Leaky Contact Center');
      expect(refusedFields(body.errors)).toEqual(['User.site']);
      // User.site and Session.user are non-null: the null reaches the nullable StartSessionPayload.session.
      expect(body.data).toEqual({ startSession: { granted: true, session: null } });
    });

    it('what the agent client needs comes back without an error: result, session, channels, the id and name of its user', async () => {
      // A second start returns the open session.
      const { body } = await post(START_OK, { input: { userId: ada } }, org.tokens.AGENT_CLIENT);
      expect(body.errors).toBeUndefined();
      expect(body.data!.startSession).toMatchObject({
        granted: true,
        denial: null,
        session: { seatKind: 'REGULAR', endedAt: null, user: { id: ada, name: 'Ada Agent' } },
      });
      const sessionId = body.data!.startSession.session.id as string;

      const beat = await post(HEARTBEAT_LEAK, { input: { sessionId } }, org.tokens.AGENT_CLIENT);
      expectNoSecret(beat.text);
      expect(refusedFields(beat.body.errors).sort()).toEqual(['User.email']);
      expect(beat.body.data).toEqual({
        heartbeat: { session: { id: sessionId, expiresAt: expect.any(String), user: { id: ada, name: 'Ada Agent', email: null } } },
      });
    });

    it('ADMIN and SUPERVISOR still read the organization through viewer', async () => {
      for (const role of ['ADMIN', 'SUPERVISOR', 'INTEGRATOR'] as const) {
        const { text, body } = await post(VIEWER_LEAK, {}, org.tokens[role]);
        expect(body.errors, role).toBeUndefined();
        expect(text).toContain(SECRETS.bobEmail);
        expect(body.data!.viewer.organization.license.keyId).toBe(SECRETS.keyId);
      }
    });
  });
}

/** Organization.customerRef is the one nullable field among those: its refusal leaves the organization in place. */
function customerRefIsNullable(field: string): boolean {
  return field === 'Organization.customerRef';
}
