import { generateKeyPairSync } from 'node:crypto';
import { createServer } from 'node:net';
import { createClient } from 'graphql-ws';
import { decodeJwt, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { ManualClock } from '../../src/clock.ts';
import { DATABASES } from '../support/databases.ts';
import { codeOf, leaksIn, listen, wsRun, type ListeningApp } from '../support/listen.ts';
import { AUDIENCE, gatewayOidc, OTHER_AUDIENCE, signingJwk, startProvider, type TestClient, type TestProvider } from '../support/oidc.ts';

/*
 * People sign in through OpenID Connect (R-AUTH-1..4, R-2FA-1), against a
 * real provider (oidc-provider) on 127.0.0.1: every accepted token comes from
 * its client_credentials flow; hand-made tokens are only the refused ones
 * (a foreign key, alg none, HS256, an unreachable issuer).
 */

const ORGANIZATION = `query($id: ID!) { organization(id: $id) { id name } }`;
const CREATE_ORG = `mutation($input: CreateOrganizationInput!) { createOrganization(input: $input) { organization { id } } }`;
const CREATE_SITE = `mutation($id: ID!) { createSite(input: { organizationId: $id, name: "Hamburg" }) { site { id } } }`;
const SEAT_USAGE = `subscription($id: ID!) { seatUsage(organizationId: $id) { organizationId pools { product { code } } } }`;
const ARRIVES_MS = 15_000;

/** When a token expires (ms), read from its own claims. */
const expiryOf = (token: string): number => (decodeJwt(token).exp as number) * 1000;

/** A port nobody listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function within<T>(promise: Promise<T>, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not arrive within ${ARRIVES_MS} ms`)), ARRIVES_MS);
    promise.then(
      (value) => (clearTimeout(timer), resolve(value)),
      (error: unknown) => (clearTimeout(timer), reject(error instanceof Error ? error : new Error(String(error)))),
    );
  });
}

for (const kind of DATABASES) {
  describe(`OpenID Connect sign-in on ${kind}`, () => {
    let gw: ListeningApp;
    let clock: ManualClock;
    let provider: TestProvider;
    let unreachableIssuer: string;
    let acme: string;
    let globex: string;
    const clients: TestClient[] = [];

    beforeAll(async () => {
      // The provider stamps tokens with the real time; the gateway's clock of record starts there too.
      clock = new ManualClock(new Date());
      unreachableIssuer = `http://127.0.0.1:${await closedPort()}`;
      clients.push(
        { clientId: 'acme-supervisor', claims: { org: 'CUST-ACME', roles: ['SUPERVISOR'] } },
        { clientId: 'acme-admin-hwk', claims: { org: 'CUST-ACME', roles: ['ADMIN', 'SUPERVISOR'], amr: ['pwd', 'hwk'] } },
        { clientId: 'acme-admin-pwd', claims: { org: 'CUST-ACME', roles: ['ADMIN'], amr: ['pwd'] } },
        { clientId: 'acme-unknown-role', claims: { org: 'CUST-ACME', roles: ['janitor'] } },
        { clientId: 'acme-no-org', claims: { roles: ['SUPERVISOR'] } },
        { clientId: 'globex-supervisor', claims: { org: 'CUST-GLOBEX', roles: 'SUPERVISOR' } },
      );
      provider = await startProvider({ clients });
      gw = await listen(kind, { clock, oidc: gatewayOidc([provider.issuer, unreachableIssuer]) });
      const create = async (name: string, customerRef: string) =>
        ((await gw.gql(CREATE_ORG, { input: { name, catalog: 'innoacd', customerRef } })).data as any).createOrganization.organization
          .id as string;
      acme = await create('Acme', 'CUST-ACME');
      globex = await create('Globex', 'CUST-GLOBEX');
    }, 60_000);

    afterAll(async () => {
      await gw?.close();
      await provider?.stop();
    });

    it('[R-AUTH-1] a token from the configured provider reads its organization (organization claim = customer reference)', async () => {
      const { token } = await provider.token('acme-supervisor');
      const result = await gw.gql(ORGANIZATION, { id: acme }, token);
      expect(result.errors).toBeUndefined();
      expect(result.data?.organization).toEqual({ id: acme, name: 'Acme' });
    });

    it('[R-AUTH-2] the organization claim may name the organization by id too', async () => {
      const extra = { clientId: 'globex-by-id', claims: { org: globex, roles: ['SUPERVISOR'] } };
      const own = await startProvider({ clients: [extra] });
      const by = await listen(kind, { clock, oidc: gatewayOidc([own.issuer]) }, gw.database);
      try {
        const { token } = await own.token('globex-by-id');
        const result = await by.gql(ORGANIZATION, { id: globex }, token);
        expect(result.data?.organization).toEqual({ id: globex, name: 'Globex' });
      } finally {
        await by.close();
        await own.stop();
      }
    });

    it('[R-AUTH-2][R-SEC-2] a token of another organization cannot read this one (NOT_FOUND, as for an id that does not exist)', async () => {
      const { token } = await provider.token('globex-supervisor');
      const foreign = await gw.gql(ORGANIZATION, { id: acme }, token);
      expect(codeOf(foreign)).toBe('NOT_FOUND');
      expect(foreign.data?.organization ?? null).toBeNull();
      expect((await gw.gql(ORGANIZATION, { id: globex }, token)).data?.organization).toEqual({ id: globex, name: 'Globex' });
    });

    it('[R-AUTH-2] a token without an organization claim is refused (UNAUTHENTICATED, 401)', async () => {
      const { token } = await provider.token('acme-no-org');
      const result = await gw.gql(ORGANIZATION, { id: acme }, token);
      expect(result.status).toBe(401);
      expect(codeOf(result)).toBe('UNAUTHENTICATED');
      expect(result.errors?.[0]?.message).toMatch(/organization claim "org"/);
    });

    it('[R-AUTH-3] a role the gateway does not map is refused', async () => {
      const { token } = await provider.token('acme-unknown-role');
      const result = await gw.gql(ORGANIZATION, { id: acme }, token);
      expect(result.status).toBe(401);
      expect(codeOf(result)).toBe('UNAUTHENTICATED');
      expect(result.errors?.[0]?.message).toMatch(/no role this gateway maps/);
    });

    it('[R-AUTH-3] a SUPERVISOR may read but not change (FORBIDDEN)', async () => {
      const { token } = await provider.token('acme-supervisor');
      expect(codeOf(await gw.gql(CREATE_SITE, { id: acme }, token))).toBe('FORBIDDEN');
    });

    it('[R-2FA-1] ADMIN needs a hardware second factor in the token: amr without hwk is SECOND_FACTOR_REQUIRED, with hwk it may change', async () => {
      const weak = await provider.token('acme-admin-pwd');
      const refused = await gw.gql(CREATE_SITE, { id: acme }, weak.token);
      expect(refused.status).toBe(403);
      expect(codeOf(refused)).toBe('SECOND_FACTOR_REQUIRED');
      expect(refused.errors?.[0]?.extensions?.rule).toBe('R-2FA-1');
      expect(refused.errors?.[0]?.message).toMatch(/amr must contain "hwk"/);
      const strong = await provider.token('acme-admin-hwk');
      const created = await gw.gql(CREATE_SITE, { id: acme }, strong.token);
      expect(created.errors).toBeUndefined();
      expect(created.data?.createSite?.site?.id).toEqual(expect.any(String));
    });

    it('[R-AUTH-1] a token for another audience is refused', async () => {
      const { token } = await provider.token('acme-supervisor', OTHER_AUDIENCE);
      const result = await gw.gql(ORGANIZATION, { id: acme }, token);
      expect(result.status).toBe(401);
      expect(result.errors?.[0]?.message).toMatch(/audience/);
    });

    it('[R-AUTH-1] expiry and clock skew follow the clock of record: accepted until exp + OIDC_CLOCK_SKEW_SECONDS, refused after', async () => {
      const { token } = await provider.token('acme-supervisor');
      const start = clock.now();
      try {
        clock.set(new Date(expiryOf(token) + 50_000)); // past exp, within the 60 s of skew
        expect((await gw.gql(ORGANIZATION, { id: acme }, token)).data?.organization?.id).toBe(acme);
        clock.set(new Date(expiryOf(token) + 70_000));
        const expired = await gw.gql(ORGANIZATION, { id: acme }, token);
        expect(expired.status).toBe(401);
        expect(expired.errors?.[0]?.message).toMatch(/expired/);
      } finally {
        clock.set(start);
      }
    });

    it("[R-AUTH-1] hand-made tokens are refused: a foreign key under the provider's kid, alg none, HS256", async () => {
      const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      const claims = { org: 'CUST-ACME', roles: ['ADMIN'], amr: ['hwk'], sub: 'mallory' };
      const exp = Math.floor(clock.now().getTime() / 1000) + 300;
      const forged = await new SignJWT(claims)
        .setProtectedHeader({ alg: 'RS256', kid: provider.kid })
        .setIssuer(provider.issuer)
        .setAudience(AUDIENCE)
        .setExpirationTime(exp)
        .sign(privateKey);
      const body = (alg: string) =>
        Buffer.from(JSON.stringify({ alg, typ: 'JWT' })).toString('base64url') +
        '.' +
        Buffer.from(JSON.stringify({ ...claims, iss: provider.issuer, aud: AUDIENCE, exp })).toString('base64url');
      const none = `${body('none')}.`;
      const hs = await new SignJWT(claims)
        .setProtectedHeader({ alg: 'HS256' })
        .setIssuer(provider.issuer)
        .setAudience(AUDIENCE)
        .setExpirationTime(exp)
        .sign(new TextEncoder().encode('a shared secret that is not a key'));
      for (const token of [forged, none, hs]) {
        const result = await gw.gql(ORGANIZATION, { id: acme }, token);
        expect(result.status, token.slice(0, 40)).toBe(401);
        expect(codeOf(result)).toBe('UNAUTHENTICATED');
      }
    });

    it('[R-AUTH-4] an issuer that cannot be reached gives 503 UNAVAILABLE for its tokens only; the gateway keeps serving', async () => {
      const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      const token = await new SignJWT({ org: 'CUST-ACME', roles: ['SUPERVISOR'], sub: 'someone' })
        .setProtectedHeader({ alg: 'RS256', kid: 'k' })
        .setIssuer(unreachableIssuer)
        .setAudience(AUDIENCE)
        .setExpirationTime(Math.floor(clock.now().getTime() / 1000) + 300)
        .sign(privateKey);
      const response = await gw.post({ query: ORGANIZATION, variables: { id: acme } }, { token });
      expect(response.status).toBe(503);
      expect(codeOf(response.json)).toBe('UNAVAILABLE');
      expect(response.json?.errors?.[0]?.message).toMatch(/identity provider .* cannot be reached/);
      expect(leaksIn(response.text)).toEqual([]);
      // Over WebSocket: closed with 1013 (try again later), not 4403.
      const closed = new Promise<number>((resolve) => {
        const client = createClient({
          url: `${gw.base.replace('http', 'ws')}/graphql`,
          webSocketImpl: WebSocket,
          retryAttempts: 0,
          lazy: false,
          connectionParams: { authorization: `Bearer ${token}` },
          on: { closed: (event) => resolve((event as { code: number }).code) },
        });
        void client;
      });
      expect(await within(closed, 'the close of the socket')).toBe(1013);
      const { token: good } = await provider.token('acme-supervisor');
      expect((await gw.gql(ORGANIZATION, { id: acme }, good)).data?.organization?.id).toBe(acme);
    });

    it("[R-AUTH-1] WebSocket: a token in connection_init or in GraphiQL's subscribe extensions; the socket closes with 4403 when the token expires", async () => {
      const { token } = await provider.token('acme-supervisor');
      const viaInit = gw.ws(`Bearer ${token}`);
      expect((await wsRun(viaInit, ORGANIZATION, { id: acme })).data?.organization?.id).toBe(acme);

      // GraphiQL: connection_init {} and the token in each subscribe message's extensions.headers.
      let closedCode: number | undefined;
      let resolveClosed!: () => void;
      const closed = new Promise<void>((resolve) => (resolveClosed = resolve));
      const graphiql = createClient({
        url: `${gw.base.replace('http', 'ws')}/graphql`,
        webSocketImpl: WebSocket,
        retryAttempts: 0,
        lazy: true,
        connectionParams: {},
        on: { closed: (event) => ((closedCode = (event as { code: number }).code), resolveClosed()) },
      });
      let resolveFirst!: (value: unknown) => void;
      const first = new Promise((resolve) => (resolveFirst = resolve));
      graphiql.subscribe(
        { query: SEAT_USAGE, variables: { id: acme }, extensions: { headers: { Authorization: `Bearer ${token}` } } },
        { next: (value) => resolveFirst(value), error: () => undefined, complete: () => undefined },
      );
      const value = (await within(first, 'the first seat usage')) as { data?: { seatUsage?: { organizationId: string } } };
      expect(value.data?.seatUsage?.organizationId).toBe(acme);
      const start = clock.now();
      try {
        clock.set(new Date(expiryOf(token) + 120_000));
        await within(closed, "the close of the expired token's socket");
        expect(closedCode).toBe(4403);
      } finally {
        clock.set(start);
        await graphiql.dispose();
      }
    });

    it("[R-AUTH-1] SSE: a stream of a person's token ends with UNAUTHENTICATED when the token expires", async () => {
      const { token } = await provider.token('acme-supervisor');
      const response = await fetch(`${gw.base}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${token}` },
        body: JSON.stringify({ query: SEAT_USAGE, variables: { id: acme } }),
      });
      expect(response.status).toBe(200);
      const reader = response.body!.getReader();
      const decoder = new TextDecoder();
      let text = '';
      const read = async (until: RegExp) => {
        while (!until.test(text)) {
          const chunk = await reader.read();
          if (chunk.done) return;
          text += decoder.decode(chunk.value, { stream: true });
        }
      };
      await within(read(/event: next/), 'the first event');
      const start = clock.now();
      try {
        clock.set(new Date(expiryOf(token) + 120_000));
        await within(read(/event: complete/), 'the end of the stream');
        expect(text).toMatch(/UNAUTHENTICATED/);
        expect(text).toMatch(/expired/);
      } finally {
        clock.set(start);
        await reader.cancel().catch(() => undefined);
      }
    });

    it('[R-AUTH-1] a rotated signing key: after the provider restarts with a new key, old tokens are refused and new ones accepted', async () => {
      const before = await provider.token('acme-supervisor');
      expect((await gw.gql(ORGANIZATION, { id: acme }, before.token)).data?.organization?.id).toBe(acme);
      const port = provider.port;
      await provider.stop();
      provider = await startProvider({ clients, port }, signingJwk());
      const after = await provider.token('acme-supervisor');
      expect((await gw.gql(ORGANIZATION, { id: acme }, after.token)).data?.organization?.id).toBe(acme);
      const old = await gw.gql(ORGANIZATION, { id: acme }, before.token);
      expect(old.status).toBe(401);
      expect(old.errors?.[0]?.message).toMatch(/no current key of its issuer matches it/);
    });
  });
}
