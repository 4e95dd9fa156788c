import { execFile } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/database.ts';
import { DATABASES, emptyPostgresDatabase, type TestDatabase } from '../support/databases.ts';
import { startGateway, type TestGateway } from '../support/gateway.ts';
import { TRUSTED_KEYS, createGroup, createMembers, licenseMapping, licensedOrg } from '../support/licensing.ts';
import { HEARTBEAT, START_SESSION, type SessionView, type StartView } from '../support/sessions.ts';

/*
 * The backup and restore of docs/operations.md, as written there: `pg_dump
 * -Fc` of a gateway's database while it serves, `pg_restore` into a fresh
 * database, a gateway on the restored one. It serves the same licence mapping,
 * the same API tokens, and the open sessions (a heartbeat renews them, and the
 * restored seat counters refuse a seat beyond the licence). PostgreSQL only:
 * PGlite's DATA_DIR is backed up by copying the stopped directory.
 */

const BIN = '/usr/lib/postgresql/15/bin';

function tool(name: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(join(BIN, name), args, { timeout: 120_000 }, (error, _stdout, stderr) =>
      error ? reject(new Error(`${name} failed: ${stderr || error.message}`)) : resolve(),
    );
  });
}

const USER_SESSIONS = `query($id: ID!) { user(id: $id) { sessions { id seatKind endedAt expiresAt } } }`;

describe.skipIf(!DATABASES.includes('postgres'))('backup and restore with pg_dump / pg_restore', { timeout: 240_000 }, () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  });

  it('a gateway on a database restored from pg_dump -Fc serves the same licence mapping and open sessions', async () => {
    const source: TestGateway = await startGateway('postgres', { trustedKeys: TRUSTED_KEYS });
    cleanups.push(() => source.close());
    const org = await licensedOrg(source, 'connect-storm', [
      { product: 'BASE', quantity: 10 },
      { product: 'AGENT_SEAT', quantity: 2 },
    ]);
    const group = await createGroup(source, org, 'Agents', ['BASE', 'AGENT_SEAT']);
    const users = await createMembers(source, org, 3, group);
    const started: SessionView[] = [];
    for (const userId of users.slice(0, 2)) {
      const data = await source.ok<{ startSession: StartView }>(START_SESSION, { input: { userId } }, org.tokens.AGENT_CLIENT);
      expect(data.startSession.granted).toBe(true);
      started.push(data.startSession.session!);
    }
    const mapping = await licenseMapping(source, org);
    expect(mapping.find((r) => r.product.code === 'AGENT_SEAT')?.concurrentInUse).toBe(2);

    // The dump is taken while the source gateway is up (pg_dump reads one consistent snapshot).
    const dir = await mkdtemp(join(tmpdir(), 'backup-restore-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const dump = join(dir, 'gateway.dump');
    await tool('pg_dump', ['--format=custom', '--file', dump, '--dbname', source.database.url!]);
    expect((await stat(dump)).size).toBeGreaterThan(0);

    const target = await emptyPostgresDatabase();
    cleanups.push(() => target.dispose());
    await tool('pg_restore', ['--no-owner', '--exit-on-error', '--dbname', target.url, dump]);

    const handle = await openDatabase({ databaseUrl: target.url, dataDir: null });
    const restoredDb: TestDatabase = { ...handle, url: target.url, dispose: () => handle.close() };
    // Same instant as the source: the sessions' TTL has not run out.
    const restored = await startGateway('postgres', { trustedKeys: TRUSTED_KEYS, database: restoredDb, now: source.clock.now() });
    cleanups.push(() => restored.close());

    // The same tokens authenticate, and the mapping is the same, row for row.
    expect(await licenseMapping(restored, org)).toEqual(mapping);
    for (const [i, userId] of users.slice(0, 2).entries()) {
      const data = await restored.ok<{ user: { sessions: { id: string; endedAt: string | null }[] } }>(
        USER_SESSIONS,
        { id: userId },
        org.admin,
      );
      expect(data.user.sessions.filter((s) => s.endedAt === null).map((s) => s.id)).toEqual([started[i]!.id]);
    }
    // The open sessions are live on the restored gateway: a heartbeat renews one.
    const beat = await restored.ok<{ heartbeat: { session: SessionView } }>(
      HEARTBEAT,
      { input: { sessionId: started[0]!.id } },
      org.tokens.AGENT_CLIENT,
    );
    expect(beat.heartbeat.session.endedAt).toBeNull();
    // The seat counters came back too: both seats are held, the third agent is refused.
    const third = await restored.ok<{ startSession: StartView }>(START_SESSION, { input: { userId: users[2] } }, org.tokens.AGENT_CLIENT);
    expect(third.startSession.granted).toBe(false);
    expect(third.startSession.denial?.code).toBe('NO_SEAT_AVAILABLE');
  });
});
