import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient, type Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createApp } from '../../src/app.ts';
import { ManualClock } from '../../src/clock.ts';
import { openDatabase } from '../../src/db/database.ts';
import { migrateToLatest, migrationsApplied } from '../../src/db/migrate.ts';
import { DATABASES, emptyPostgresDatabase } from '../support/databases.ts';
import { createOrg, OPERATOR_TOKEN, startGateway, type TestGateway } from '../support/gateway.ts';
import { listenOn } from '../support/listen.ts';

const CATALOG_CODES = '{ catalogs { code } }';

function wsClient(url: string, authorization: string | null): Client {
  return createClient({
    url,
    webSocketImpl: WebSocket,
    lazy: true,
    retryAttempts: 0,
    connectionParams: authorization ? { authorization } : {},
  });
}

/** Runs one query over graphql-ws and resolves with its single result (or rejects with the close event). */
function wsQuery(client: Client, query: string, variables: Record<string, unknown> = {}) {
  return new Promise<{ data?: unknown; errors?: unknown[] }>((resolve, reject) => {
    let result: { data?: unknown; errors?: unknown[] } | undefined;
    client.subscribe(
      { query, variables },
      {
        next: (value) => (result = value as typeof result),
        error: reject,
        complete: () => (result ? resolve(result) : reject(new Error('no result'))),
      },
    );
  });
}

for (const kind of DATABASES) {
  describe(`listening gateway on ${kind}`, () => {
    let gw: TestGateway;
    let base: string;

    beforeAll(async () => {
      gw = await startGateway(kind);
      const address = await listenOn(gw);
      base = `http://127.0.0.1:${address.port}`;
    });
    afterAll(() => gw.close());

    it('answers /healthz and /readyz (database reachable, migrations applied)', async () => {
      const health = await fetch(`${base}/healthz`);
      expect(health.status).toBe(200);
      const ready = await fetch(`${base}/readyz`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toMatchObject({ ready: true, database: true, migrations: true });
    });

    it('serves GraphQL over HTTP POST and GET on /graphql', async () => {
      const post = await fetch(`${base}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: CATALOG_CODES }),
      });
      expect(post.status).toBe(200);
      const posted = (await post.json()) as { data: { catalogs: { code: string }[] } };
      expect(posted.data.catalogs.map((c) => c.code)).toEqual(['connect-storm', 'innoacd', 'xphone-connect', 'zoom-contact-center']);

      const get = await fetch(`${base}/graphql?query=${encodeURIComponent(CATALOG_CODES)}`, { headers: { accept: 'application/json' } });
      expect(get.status).toBe(200);
      expect(await get.json()).toEqual(posted);
    });

    it('refuses mutations over GET', async () => {
      const query = 'mutation { createSite(input: {organizationId: "x", name: "y"}) { site { id } } }';
      const response = await fetch(`${base}/graphql?query=${encodeURIComponent(query)}`, { headers: { accept: 'application/json' } });
      expect(response.status).toBe(405);
    });

    it('serves results as server-sent events when asked for text/event-stream', async () => {
      const response = await fetch(`${base}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
        body: JSON.stringify({ query: CATALOG_CODES }),
      });
      expect(response.headers.get('content-type')).toContain('text/event-stream');
      const text = await response.text();
      expect(text).toContain('event: next');
      expect(text).toContain('"code":"innoacd"');
      expect(text).toContain('event: complete');
    });

    it('serves GraphiQL from the gateway itself, with no CDN address in the page', async () => {
      const response = await fetch(`${base}/graphql`, { headers: { accept: 'text/html' } });
      expect(response.status).toBe(200);
      const html = await response.text();
      expect(html).toContain('Licensing gateway');
      expect(html).toMatch(/graphiql/i);
      expect(html).not.toMatch(/(src|href)=["']https?:\/\//);
      expect(html).not.toMatch(/unpkg\.com|jsdelivr|cdnjs/);
    });

    it('[R-SEC-1] authenticates WebSocket connections in connection_init', async () => {
      const url = `${base.replace('http', 'ws')}/graphql`;
      const org = await createOrg(gw, 'innoacd', `WS org ${kind}`);
      const operator = wsClient(url, `Bearer ${OPERATOR_TOKEN}`);
      const result = await wsQuery(operator, 'query($id: ID!) { organization(id: $id) { name } }', { id: org.organizationId });
      expect(result.data).toEqual({ organization: { name: `WS org ${kind}` } });
      await operator.dispose();

      const supervisor = wsClient(url, `Bearer ${org.tokens.SUPERVISOR}`);
      const read = await wsQuery(supervisor, 'query($id: ID!) { organization(id: $id) { id } }', { id: org.organizationId });
      expect(read.data).toEqual({ organization: { id: org.organizationId } });
      await supervisor.dispose();

      const anonymous = wsClient(url, null);
      const denied = await wsQuery(anonymous, 'query($id: ID!) { organization(id: $id) { id } }', { id: org.organizationId });
      expect(denied.errors?.[0]).toMatchObject({ extensions: { code: 'UNAUTHENTICATED' } });
      await anonymous.dispose();

      const forged = wsClient(url, 'Bearer not-a-real-token-at-all');
      await expect(wsQuery(forged, CATALOG_CODES)).rejects.toMatchObject({ code: 4403 });
      await forged.dispose();
    });

    it('closes WebSockets with 1001 when it stops', async () => {
      const other = await startGateway(kind);
      const address = await listenOn(other);
      const socket = new WebSocket(`ws://127.0.0.1:${address.port}/graphql`, 'graphql-transport-ws');
      await new Promise((resolve) => socket.once('open', resolve));
      const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
      await other.close();
      expect(await closed).toBe(1001);
    });
  });
}

describe.skipIf(!DATABASES.includes('pglite'))('PGlite persistence', () => {
  it('keeps data in DATA_DIR across a restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-pglite-'));
    try {
      const first = await openDatabase({ databaseUrl: null, dataDir: dir });
      await migrateToLatest(first.db);
      const app = createApp({ database: first, clock: new ManualClock(), operatorToken: OPERATOR_TOKEN });
      const created = await app.yoga.fetch('http://x/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${OPERATOR_TOKEN}` },
        body: JSON.stringify({
          query: 'mutation { createOrganization(input: {name: "Persisted", catalog: "innoacd"}) { organization { id } } }',
        }),
      });
      const id = ((await created.json()) as { data: { createOrganization: { organization: { id: string } } } }).data.createOrganization
        .organization.id;
      await app.stop();
      await first.close();

      const second = await openDatabase({ databaseUrl: null, dataDir: dir });
      expect(await migrationsApplied(second.db)).toBe(true);
      const row = await second.db.selectFrom('organizations').select('name').where('id', '=', id).executeTakeFirst();
      expect(row?.name).toBe('Persisted');
      await second.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!DATABASES.includes('postgres'))('PostgreSQL migrations and persistence', () => {
  it('applies migrations once when several instances start at the same moment', async () => {
    const empty = await emptyPostgresDatabase();
    const handles = await Promise.all([1, 2, 3, 4].map(() => openDatabase({ databaseUrl: empty.url, dataDir: null, poolSize: 2 })));
    try {
      const results = await Promise.all(handles.map((h) => migrateToLatest(h.db)));
      const applied = results.flatMap((r) => r.results?.filter((m) => m.status === 'Success') ?? []);
      expect(applied.length).toBeGreaterThan(0);
      expect(new Set(applied.map((m) => m.migrationName)).size).toBe(applied.length);
      for (const h of handles) expect(await migrationsApplied(h.db)).toBe(true);
    } finally {
      await Promise.all(handles.map((h) => h.close()));
      await empty.dispose();
    }
  });

  it('keeps data across a reconnect (a restarted gateway)', async () => {
    const empty = await emptyPostgresDatabase();
    try {
      const first = await openDatabase({ databaseUrl: empty.url, dataDir: null });
      await migrateToLatest(first.db);
      await first.db
        .insertInto('organizations')
        .values({
          id: '01890000-0000-7000-8000-000000000001',
          name: 'Kept',
          catalog_code: 'innoacd',
          customer_ref: null,
          clock_high_water: null,
          created_at: new Date(),
        })
        .execute();
      await first.close();
      const second = await openDatabase({ databaseUrl: empty.url, dataDir: null });
      const row = await second.db.selectFrom('organizations').select('name').executeTakeFirst();
      expect(row?.name).toBe('Kept');
      await second.close();
    } finally {
      await empty.dispose();
    }
  });
});
