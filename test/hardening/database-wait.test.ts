import { afterAll, describe, expect, it } from 'vitest';
import { DATABASES } from '../support/databases.ts';
import { freePort, HAVE_POSTGRES_BINARIES, ownPostgres, type OwnPostgres } from './own-postgres.ts';
import { ensureStopped, listeningBase, spawnGateway, type GatewayProcess } from '../support/launch.ts';

/*
 * A gateway started before its database (issue name: db-wait): it waits with
 * a log line naming the retry and the fault, instead of failing as a broken
 * migration, and serves once PostgreSQL appears at DATABASE_URL.
 */

describe.skipIf(!DATABASES.includes('postgres') || !HAVE_POSTGRES_BINARIES)('start before the database', { timeout: 120_000 }, () => {
  let server: OwnPostgres | null = null;
  let gateway: GatewayProcess | undefined;
  afterAll(async () => {
    await ensureStopped(gateway);
    await server?.dispose();
  });

  it('[R-AVAIL-1][db-wait] DATABASE_URL names a port where nothing listens yet: the gateway logs that it waits and retries, then serves once PostgreSQL is there', async () => {
    const port = await freePort();
    gateway = spawnGateway({ DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/postgres` });
    const waiting = await gateway.waitForLog((l) => l.msg === 'database not reachable; waiting for it (retrying)');
    expect(waiting).toMatchObject({
      level: 'warn',
      attempt: 1,
      retryInMs: expect.any(Number),
      fault: expect.stringContaining('ECONNREFUSED'),
    });
    // It keeps waiting (a second attempt is logged), and is not listening meanwhile.
    await gateway.waitForLog((l) => l.msg === 'database not reachable; waiting for it (retrying)' && l.attempt === 2);
    expect(gateway.lines.some((l) => l.msg === 'gateway listening' || l.level === 'fatal')).toBe(false);

    server = await ownPostgres(port);
    await server.start();
    const base = await listeningBase(gateway);
    expect(gateway.lines.some((l) => l.msg === 'database reachable')).toBe(true);
    expect(await (await fetch(`${base}/readyz`)).json()).toMatchObject({ ready: true, database: true, migrations: true });
    expect(gateway.child.exitCode).toBeNull();
  });
});
