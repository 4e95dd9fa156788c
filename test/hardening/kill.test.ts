import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase, type DatabaseHandle } from '../../src/db/database.ts';
import { migrationsApplied } from '../../src/db/migrate.ts';
import { DATABASES, freshDatabase, type TestDatabase } from '../support/databases.ts';
import { ensureStopped, listeningBase, PROCESS_OPERATOR_TOKEN, spawnGateway, type GatewayProcess } from '../support/launch.ts';

interface Reply {
  data?: Record<string, any>;
  errors?: { message: string; extensions?: { code?: string } }[];
}

async function graphql(base: string, query: string, variables: Record<string, unknown>, token: string): Promise<Reply> {
  const response = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  return (await response.json()) as Reply;
}

async function ok(
  base: string,
  query: string,
  variables: Record<string, unknown>,
  token = PROCESS_OPERATOR_TOKEN,
): Promise<Record<string, any>> {
  const reply = await graphql(base, query, variables, token);
  if (reply.errors?.length || !reply.data) throw new Error(JSON.stringify(reply.errors));
  return reply.data;
}

const CREATE_USER = 'mutation($input: CreateUserInput!) { createUser(input: $input) { user { id } } }';
const UPDATE_STATUS = 'mutation($input: UpdateUserStatusInput!) { updateUserStatus(input: $input) { user { id status } } }';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

for (const kind of DATABASES) {
  describe(`[R-API-2] data safety on ${kind}: SIGKILL in the middle of a burst of mutations`, () => {
    it('[R-API-2] after a restart every acknowledged mutation is there whole, every user has its status history, nothing is half-written', async () => {
      // The gateway's database: a fresh PostgreSQL database, or a PGlite data directory.
      let env: Record<string, string>;
      let postgres: TestDatabase | null = null;
      let dataDir: string | null = null;
      if (kind === 'postgres') {
        postgres = await freshDatabase('postgres', { poolSize: 2 });
        cleanups.push(() => postgres!.dispose());
        env = { DATABASE_URL: postgres.url! };
      } else {
        dataDir = mkdtempSync(join(tmpdir(), 'gw-kill-'));
        cleanups.push(async () => rmSync(dataDir!, { recursive: true, force: true }));
        env = { DATA_DIR: dataDir };
      }
      const processes: GatewayProcess[] = [];
      cleanups.push(async () => void (await Promise.all(processes.map(ensureStopped))));

      const first = spawnGateway(env);
      processes.push(first);
      const base = await listeningBase(first);

      const org = await ok(
        base,
        'mutation { createOrganization(input: { name: "Killed", catalog: "connect-storm" }) { organization { id } } }',
        {},
      );
      const organizationId = org.createOrganization.organization.id as string;
      const token = (
        await ok(base, 'mutation($input: CreateApiTokenInput!) { createApiToken(input: $input) { token } }', {
          input: { organizationId, role: 'ADMIN' },
        })
      ).createApiToken.token as string;
      const siteId = (
        await ok(
          base,
          'mutation($input: CreateSiteInput!) { createSite(input: $input) { site { id } } }',
          { input: { organizationId, name: 'Site' } },
          token,
        )
      ).createSite.site.id as string;
      const existing: string[] = [];
      for (let i = 0; i < 20; i++) {
        existing.push((await ok(base, CREATE_USER, { input: { siteId, name: `Before ${i}`, role: 'UC_USER' } }, token)).createUser.user.id);
      }

      // The burst: 100 new users and one status change for each existing user, all at once.
      const acknowledgedUsers: string[] = [];
      const acknowledgedUpdates: string[] = [];
      let acknowledged = 0;
      let killAt: () => void = () => undefined;
      const killed = new Promise<void>((resolve) => (killAt = resolve));
      const settle = async (work: Promise<Reply>, onOk: (reply: Reply) => void) => {
        try {
          const reply = await work;
          if (!reply.errors?.length && reply.data) {
            onOk(reply);
            if (++acknowledged === 30) killAt();
          }
        } catch {
          // The connection died with the process: not acknowledged.
        }
      };
      const burst = [
        ...Array.from({ length: 100 }, (_, i) =>
          settle(
            graphql(
              base,
              CREATE_USER,
              { input: { siteId, name: `Burst ${i}`, role: 'UC_USER', status: i % 2 ? 'ACTIVE' : 'PREPARING' } },
              token,
            ),
            (r) => acknowledgedUsers.push(r.data!.createUser.user.id),
          ),
        ),
        ...existing.map((userId) =>
          settle(graphql(base, UPDATE_STATUS, { input: { userId, status: 'INACTIVE' } }, token), () => acknowledgedUpdates.push(userId)),
        ),
      ];
      await Promise.race([killed, Promise.all(burst)]);
      first.child.kill('SIGKILL');
      expect((await first.exited).signal).toBe('SIGKILL');
      await Promise.all(burst);
      expect(acknowledged).toBeGreaterThanOrEqual(30);

      // Restart on the same database (and, for PGlite, the same directory: its lock is taken over).
      const second = spawnGateway(env);
      processes.push(second);
      const again = await listeningBase(second);
      const ready = await fetch(`${again}/readyz`);
      expect(await ready.json()).toMatchObject({ ready: true, database: true, migrations: true });
      for (const id of acknowledgedUsers) {
        expect((await ok(again, 'query($id: ID!) { user(id: $id) { id } }', { id }, token)).user).toEqual({ id });
      }
      for (const id of acknowledgedUpdates) {
        expect((await ok(again, 'query($id: ID!) { user(id: $id) { status } }', { id }, token)).user).toEqual({ status: 'INACTIVE' });
      }
      // And it takes writes again.
      await ok(again, CREATE_USER, { input: { siteId, name: 'After', role: 'UC_USER' } }, token);
      second.child.kill('SIGTERM');
      expect((await second.exited).code).toBe(0);

      // The invariants, straight from the database.
      const handle: DatabaseHandle = postgres ?? (await openDatabase({ databaseUrl: null, dataDir }));
      if (!postgres) cleanups.push(() => handle.close());
      const { db } = handle;
      expect(await migrationsApplied(db)).toBe(true);
      const users = await db.selectFrom('users').select(['id', 'status']).where('organization_id', '=', organizationId).execute();
      expect(users.length).toBeGreaterThanOrEqual(20 + acknowledgedUsers.length + 1);
      const latest = await sql<{ user_id: string; status: string }>`
        select distinct on (user_id) user_id, status from user_status_history
        where organization_id = ${organizationId} order by user_id, seq desc`.execute(db);
      const latestStatus = new Map(latest.rows.map((r) => [r.user_id, r.status]));
      for (const user of users) expect(latestStatus.get(user.id), `history of ${user.id}`).toBe(user.status);
      // No history (and no event) without its user or organization: nothing of an unfinished transaction remains.
      expect(latest.rows.filter((r) => !users.some((u) => u.id === r.user_id))).toEqual([]);
      const orphanEvents = await sql<{
        n: number;
      }>`select count(*)::int as n from events e where not exists (select 1 from organizations o where o.id = e.organization_id)`.execute(
        db,
      );
      expect(orphanEvents.rows[0]!.n).toBe(0);
      const createdEvents = await db
        .selectFrom('events')
        .select('user_id')
        .where('organization_id', '=', organizationId)
        .where('type', '=', 'USER_CREATED')
        .execute();
      expect(new Set(createdEvents.map((e) => e.user_id))).toEqual(new Set(users.map((u) => u.id)));
    });
  });
}
