import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BILLING_CSV_COLUMNS } from '../../src/billing/billing.service.ts';
import { DATABASES, freshDatabase, type TestDatabase } from '../support/databases.ts';
import { startGateway } from '../support/gateway.ts';
import { TRUSTED_KEYS, createGroup, createUsers, licensedOrg } from '../support/licensing.ts';
import { endSession, startGranted } from '../support/sessions.ts';

/*
 * `npm run billing` (docs/rules.md R-BILL-1, R-BILL-2): --help explains and
 * touches nothing; a run prints the month's CSV of an organization from the
 * database the gateway would use (PGlite DATA_DIR, PostgreSQL DATABASE_URL).
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function billing(args: string[], env: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'src/cli/billing.ts', ...args],
      { cwd: ROOT, env: { ...process.env, ...env }, timeout: 60_000 },
      (error, stdout, stderr) => {
        resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stdout, stderr });
      },
    );
  });
}

describe('npm run billing', { timeout: 300_000 }, () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'billing-cli-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('[R-BILL-2] --help prints its usage and touches no database, even with every other option given', async () => {
    const dataDir = join(dir, 'never-created');
    const out = join(dir, 'never-written.csv');
    const result = await billing(['--organization', 'x', '--month', '2026-11', '--out', out, '--help'], {
      DATABASE_URL: '',
      DATA_DIR: dataDir,
    });
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/usage: npm run billing/i);
    await expect(stat(dataDir)).rejects.toThrow(/ENOENT/);
    await expect(stat(out)).rejects.toThrow(/ENOENT/);
  });

  it('[R-BILL-2] usage errors exit 2 naming the problem; a DATA_DIR without a database is refused (exit 1) and not created', async () => {
    const dataDir = join(dir, 'empty');
    const env = { DATABASE_URL: '', DATA_DIR: dataDir };
    const unknown = await billing(['--frobnicate'], env);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/--frobnicate/);
    const noMonth = await billing(['--organization', 'x'], env);
    expect(noMonth.code).toBe(2);
    expect(noMonth.stderr).toMatch(/--month/);
    const noDatabase = await billing(['--organization', 'x', '--month', '2026-11'], env);
    expect(noDatabase.code).toBe(1);
    expect(noDatabase.stderr).toMatch(/holds no database/);
    await expect(stat(dataDir)).rejects.toThrow(/ENOENT/);
  });

  for (const kind of DATABASES) {
    it(`[R-BILL-1][R-BILL-2] ${kind}: the month's CSV of an organization, on stdout or --out; an unknown one and a bad month exit 1`, async () => {
      const dataDir = kind === 'pglite' ? join(dir, `data-${Date.now()}`) : undefined;
      const database: TestDatabase = await freshDatabase(kind, dataDir ? { dataDir } : {});
      const gw = await startGateway(kind, { database, now: new Date('2026-11-22T10:00:00.000Z'), trustedKeys: TRUSTED_KEYS });
      let organizationId: string;
      try {
        const org = await licensedOrg(gw, 'connect-storm', [
          { product: 'BASE', quantity: 10 },
          { product: 'AGENT_SEAT', quantity: 2, emergencyQuantity: 1 },
        ]);
        organizationId = org.organizationId;
        const group = await createGroup(gw, org, 'Agents', ['BASE', 'AGENT_SEAT']);
        const users = await createUsers(gw, org, 3, { configurationGroupId: group });
        const sessions = [];
        for (const user of users) sessions.push(await startGranted(gw, org, user));
        gw.clock.advance(60_000);
        for (const s of sessions) await endSession(gw, org, s.id);
      } finally {
        // The CLI needs the database to itself on PGlite (one process per DATA_DIR); PostgreSQL is dropped afterwards.
        await gw.app.stop();
        if (kind === 'pglite') await database.close();
      }
      try {
        const env = kind === 'pglite' ? { DATABASE_URL: '', DATA_DIR: dataDir } : { DATABASE_URL: database.url ?? '' };
        const printed = await billing(['--organization', organizationId, '--month', '2026-11'], env);
        expect(printed.stderr).toBe('');
        expect(printed.code).toBe(0);
        expect(printed.stdout.split('\r\n')[0]).toBe(BILLING_CSV_COLUMNS.join(','));
        const records = parse(printed.stdout, { columns: true }) as Record<string, string>[];
        expect(records.map((r) => r.product)).toEqual(['BASE', 'AGENT_SEAT']);
        expect(records[1]).toMatchObject({
          organization_id: organizationId,
          period: '2026-11',
          licensed: '2',
          emergency_licensed: '1',
          active_users: '3',
          peak_concurrent: '3',
          emergency_peak: '1',
          billable_overage: '0',
          complete: 'true',
        });
        const out = join(dir, `${kind}.csv`);
        const written = await billing(['--organization', organizationId, '--month', '2026-11', '--out', out], env);
        expect(written).toMatchObject({ code: 0, stdout: '' });
        expect(await readFile(out, 'utf8')).toBe(printed.stdout);

        const unknown = await billing(['--organization', 'nobody', '--month', '2026-11'], env);
        expect(unknown.code).toBe(1);
        expect(unknown.stderr).toMatch(/^billing: organization nobody not found/);
        const badMonth = await billing(['--organization', organizationId, '--month', '2026-13'], env);
        expect(badMonth.code).toBe(1);
        expect(badMonth.stderr).toMatch(/^billing: month: must be a calendar month YYYY-MM/);
      } finally {
        await database.dispose();
      }
    });
  }
});
