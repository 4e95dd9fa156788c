import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { loadConfig } from '../../src/config.ts';
import { DEFAULT_RATE_LIMITS, SlidingWindowLimiter } from '../../src/security/rate-limit.ts';
import { OPERATOR_TOKEN } from '../support/gateway.ts';
import { codeOf, listen, wsRun, type ListeningApp } from '../support/listen.ts';

/** A rate-limit clock that moves only when told (milliseconds). */
function ticker() {
  let now = 1_000;
  return { now: () => now, advance: (ms: number) => void (now += ms) };
}

describe('SlidingWindowLimiter', () => {
  it('allows `limit` events in any window, then refuses until the oldest leaves the window', () => {
    const time = ticker();
    const limiter = new SlidingWindowLimiter(3, 60_000, time.now);
    expect(limiter.tryHit('a')).toBe(true);
    time.advance(10_000);
    expect([limiter.tryHit('a'), limiter.tryHit('a')]).toEqual([true, true]);
    expect(limiter.tryHit('a')).toBe(false);
    expect(limiter.blocked('a')).toBe(true);
    expect(limiter.retryAfterMs('a')).toBe(50_000);
    expect(limiter.tryHit('b')).toBe(true); // keys are independent
    time.advance(49_999);
    expect(limiter.blocked('a')).toBe(true);
    expect(limiter.retryAfterMs('a')).toBe(1);
    time.advance(1);
    // The first event left the window; the other two are still in it.
    expect(limiter.tryHit('a')).toBe(true);
    expect(limiter.tryHit('a')).toBe(false);
  });

  it('is off at 0 and keeps at most maxKeys keys', () => {
    const off = new SlidingWindowLimiter(0, 1_000);
    for (let i = 0; i < 100; i++) expect(off.tryHit('x')).toBe(true);
    const time = ticker();
    const bounded = new SlidingWindowLimiter(1, 60_000, time.now, 10);
    for (let i = 0; i < 50; i++) bounded.hit(`key-${i}`);
    expect(bounded.blocked('key-49')).toBe(true);
    expect(bounded.blocked('key-0')).toBe(false); // forgotten, oldest first
  });

  it('reads its limits from the environment, with the documented defaults', () => {
    const env = { OPERATOR_TOKEN };
    expect(loadConfig(env).rateLimits).toEqual(DEFAULT_RATE_LIMITS);
    expect(DEFAULT_RATE_LIMITS).toEqual({ authFailures: 20, authWindowMs: 60_000, activations: 10, activationWindowMs: 60_000 });
    expect(
      loadConfig({
        ...env,
        RATE_LIMIT_AUTH_FAILURES: '5',
        RATE_LIMIT_AUTH_WINDOW_SECONDS: '300',
        RATE_LIMIT_ACTIVATIONS: '0',
        RATE_LIMIT_ACTIVATION_WINDOW_SECONDS: '3600',
      }).rateLimits,
    ).toEqual({ authFailures: 5, authWindowMs: 300_000, activations: 0, activationWindowMs: 3_600_000 });
    expect(loadConfig({ ...env, TRUST_PROXY: 'true' }).trustProxy).toBe(true);
    expect(() => loadConfig({ ...env, RATE_LIMIT_AUTH_WINDOW_SECONDS: '0' })).toThrow(
      /^RATE_LIMIT_AUTH_WINDOW_SECONDS: must be between 1 and 86400/,
    );
  });
});

const CATALOGS = '{ catalogs { code } }';

describe('[R-SEC-6] rate limit on authentication failures (per client address): counts failures, never refuses a valid token', () => {
  let gw: ListeningApp;
  const time = ticker();

  beforeAll(async () => {
    gw = await listen('pglite', { rateLimits: { authFailures: 3, authWindowMs: 60_000 }, rateLimitTicker: time.now });
  });
  afterAll(() => gw.close());

  it('after RATE_LIMIT_AUTH_FAILURES bad tokens, bad tokens from that address get 429 RATE_LIMITED for the window; valid tokens and anonymous reads are served', async () => {
    const created = await gw.gql(
      'mutation($input: CreateOrganizationInput!) { createOrganization(input: $input) { organization { id } } }',
      { input: { name: 'Behind NAT', catalog: 'innoacd' } },
    );
    const organizationId = created.data?.createOrganization.organization.id as string;
    const admin = (
      await gw.gql('mutation($input: CreateApiTokenInput!) { createApiToken(input: $input) { token } }', {
        input: { organizationId, role: 'ADMIN' },
      })
    ).data?.createApiToken.token as string;

    for (let i = 0; i < 3; i++) {
      const bad = await gw.gql(CATALOGS, {}, `not-a-token-${i}`);
      expect(bad.status).toBe(401);
      expect(codeOf(bad)).toBe('UNAUTHENTICATED');
    }
    const limited = await gw.post({ query: CATALOGS }, { token: 'not-a-token-again' });
    expect(limited.status).toBe(429);
    expect(codeOf(limited.json)).toBe('RATE_LIMITED');
    expect(Number(limited.headers.get('retry-after'))).toBe(60);
    // 20 bad tokens behind one NAT address must not lock everyone out: a valid token is looked up first and served.
    for (const token of [OPERATOR_TOKEN, admin]) {
      const good = await gw.gql('{ viewer { kind } }', {}, token);
      expect(good.status, token === admin ? 'ADMIN' : 'operator').toBe(200);
      expect(good.errors).toBeUndefined();
    }
    const anonymous = await gw.gql(CATALOGS, {}, null);
    expect(anonymous.errors).toBeUndefined();
    // Still blocked for bad tokens (a valid token in between does not reset the count).
    expect((await gw.post({ query: CATALOGS }, { token: 'not-a-token-yet-again' })).status).toBe(429);

    // graphql-ws: a valid connection_init from that address is served; a bad one is closed with 4429.
    const served = await wsRun(gw.ws(`Bearer ${OPERATOR_TOKEN}`), '{ viewer { kind } }');
    expect(served).toEqual({ data: { viewer: { kind: 'OPERATOR' } } });
    const socket = new WebSocket(`${gw.base.replace('http', 'ws')}/graphql`, 'graphql-transport-ws');
    await new Promise((resolve) => socket.once('open', resolve));
    const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
    socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: 'Bearer not-a-token-over-ws' } }));
    expect(await closed).toBe(4429);

    const metrics = await (await fetch(`${gw.base}/metrics`)).text();
    expect(metrics).toMatch(/gateway_rate_limited_total\{limit="auth"\} [3-9]/);

    time.advance(60_000);
    const afterWindow = await gw.gql(CATALOGS, {}, 'not-a-token-later');
    expect(afterWindow.status).toBe(401);
    expect(codeOf(afterWindow)).toBe('UNAUTHENTICATED');
  });

  it('counts behind a proxy per X-Forwarded-For address only when TRUST_PROXY is set', async () => {
    const proxied = await listen('pglite', { rateLimits: { authFailures: 1 }, trustProxy: true, rateLimitTicker: time.now });
    try {
      const from = (address: string, token: string) =>
        proxied.post({ query: CATALOGS }, { token, headers: { 'x-forwarded-for': `203.0.113.9, ${address}` } });
      expect((await from('198.51.100.1', 'bad-token-1')).status).toBe(401);
      expect((await from('198.51.100.1', 'bad-token-2')).status).toBe(429);
      expect((await from('198.51.100.2', 'bad-token-3')).status).toBe(401);
    } finally {
      await proxied.close();
    }
    // Without TRUST_PROXY the header is ignored: all of these come from 127.0.0.1.
    const direct = await listen('pglite', { rateLimits: { authFailures: 1 }, rateLimitTicker: time.now });
    try {
      expect((await direct.post({ query: CATALOGS }, { token: 'bad-1', headers: { 'x-forwarded-for': '198.51.100.1' } })).status).toBe(401);
      expect((await direct.post({ query: CATALOGS }, { token: 'bad-2', headers: { 'x-forwarded-for': '198.51.100.2' } })).status).toBe(429);
    } finally {
      await direct.close();
    }
  });
});

const ACTIVATE = 'mutation($input: ActivateLicenseKeyInput!) { activateLicenseKey(input: $input) { license { state } } }';

describe('[R-KEY-3] rate limit on activateLicenseKey (per organization)', () => {
  let gw: ListeningApp;
  const time = ticker();

  async function newOrganization(name: string): Promise<{ id: string; admin: string }> {
    const org = await gw.gql('mutation($input: CreateOrganizationInput!) { createOrganization(input: $input) { organization { id } } }', {
      input: { name, catalog: 'innoacd' },
    });
    const id = org.data?.createOrganization.organization.id as string;
    const token = await gw.gql('mutation($input: CreateApiTokenInput!) { createApiToken(input: $input) { token } }', {
      input: { organizationId: id, role: 'ADMIN' },
    });
    return { id, admin: token.data?.createApiToken.token as string };
  }

  beforeAll(async () => {
    gw = await listen('pglite', { rateLimits: { activations: 3, activationWindowMs: 60_000 }, rateLimitTicker: time.now });
  });
  afterAll(() => gw.close());

  it('allows RATE_LIMIT_ACTIVATIONS attempts per window, then answers 429 RATE_LIMITED without touching the organization', async () => {
    const org = await newOrganization('Limited');
    const other = await newOrganization('Other');
    for (let i = 0; i < 3; i++) {
      const attempt = await gw.gql(ACTIVATE, { input: { organizationId: org.id, key: `LK1.bogus.${i}` } }, org.admin);
      expect(codeOf(attempt)).toBe('INVALID_LICENSE_KEY');
    }
    const limited = await gw.gql(ACTIVATE, { input: { organizationId: org.id, key: 'LK1.bogus.x' } }, org.admin);
    expect(limited.status).toBe(429);
    expect(codeOf(limited)).toBe('RATE_LIMITED');
    expect(limited.errors?.[0]?.message).toMatch(/at most 3 per 60 s/);
    expect(limited.data ?? null).toBeNull();
    // The operator is limited for that organization too; other organizations are not.
    expect(codeOf(await gw.gql(ACTIVATE, { input: { organizationId: org.id, key: 'LK1.bogus.op' } }))).toBe('RATE_LIMITED');
    expect(codeOf(await gw.gql(ACTIVATE, { input: { organizationId: other.id, key: 'LK1.bogus.o' } }, other.admin))).toBe(
      'INVALID_LICENSE_KEY',
    );
    const keys = await gw.database.db.selectFrom('license_keys').select('key_id').where('organization_id', '=', org.id).execute();
    expect(keys).toEqual([]);

    time.advance(60_000);
    expect(codeOf(await gw.gql(ACTIVATE, { input: { organizationId: org.id, key: 'LK1.bogus.later' } }, org.admin))).toBe(
      'INVALID_LICENSE_KEY',
    );
  });

  it('counts every activateLicenseKey of an operation (aliases, inline arguments, fragments) before it runs', async () => {
    const org = await newOrganization('Aliased');
    const three = `mutation($org: ID!) {
      a: activateLicenseKey(input: { organizationId: $org, key: "LK1.x" }) { license { state } }
      ... on Mutation { b: activateLicenseKey(input: { organizationId: $org, key: "LK1.y" }) { license { state } } }
      ...more
    }
    fragment more on Mutation { c: activateLicenseKey(input: { organizationId: $org, key: "LK1.z" }) { license { state } } }`;
    // Mutations run one after the other and the first refusal ends this one; all three were attempts.
    const first = await gw.gql(three, { org: org.id }, org.admin);
    expect(first.errors?.map((e) => e.extensions?.code)).toEqual(['INVALID_LICENSE_KEY']);
    expect(codeOf(await gw.gql(ACTIVATE, { input: { organizationId: org.id, key: 'LK1.w' } }, org.admin))).toBe('RATE_LIMITED');
  });

  it('a token of another organization cannot use up the attempts of this one', async () => {
    const victim = await newOrganization('Victim');
    const stranger = await newOrganization('Stranger');
    for (let i = 0; i < 10; i++) {
      expect(codeOf(await gw.gql(ACTIVATE, { input: { organizationId: victim.id, key: 'LK1.s' } }, stranger.admin))).toBe('NOT_FOUND');
    }
    expect(codeOf(await gw.gql(ACTIVATE, { input: { organizationId: victim.id, key: 'LK1.v' } }, victim.admin))).toBe(
      'INVALID_LICENSE_KEY',
    );
  });
});
