/**
 * `npm run billing -- --organization ID --month YYYY-MM [--out FILE]`: the
 * billing report of one organization for one calendar month (UTC) as CSV
 * (R-BILL-1, R-BILL-2), read from the database the gateway would use. It
 * reads only; on PGlite it takes the DATA_DIR lock the gateway takes.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { GraphQLError } from 'graphql';
import { sql } from 'kysely';
import { billingCsv, billingReport } from '../billing/billing.service.ts';
import { loadPresetCatalogs } from '../catalogs/index.ts';
import { loadConfig } from '../config.ts';
import { DataDirInUseError, lockDataDir } from '../db/data-dir-lock.ts';
import { openDatabase, type DatabaseHandle } from '../db/database.ts';
import { Refusal, runCli, UsageError } from './run.ts';

const USAGE = `usage: npm run billing -- --organization ID --month YYYY-MM [--out FILE] | --help

Prints the billing report of one organization for one calendar month (UTC)
as CSV (RFC 4180, header row; columns in the README, "Billing"): per product
the licences held, peak concurrent seats, the emergency peak, billable
overage, and the organization's active users in the month. It reads the
database the gateway would use (DATABASE_URL when set, else the embedded
PGlite database in DATA_DIR) and changes nothing; the time is the
database's.

  --organization ID   the organization's id
  --month YYYY-MM     the month, e.g. 2026-11 (not one that has not begun)
  --out FILE          write the CSV to FILE instead of standard output

On DATA_DIR it takes the directory's lock and refuses while a gateway uses
it (PGlite allows one process): ask the gateway instead,
GET /billing/<organization>/<YYYY-MM>.csv with an ADMIN token.

Exit codes: 0 written, 1 refused (unknown organization, bad month, lock,
configuration), 2 usage error.
`;

interface Args {
  help: boolean;
  organization: string;
  month: string;
  out: string | null;
}

function parse(argv: string[]): Args {
  let values: { help?: boolean; organization?: string; month?: string; out?: string };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        help: { type: 'boolean', short: 'h' },
        organization: { type: 'string' },
        month: { type: 'string' },
        out: { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  if (values.help) return { help: true, organization: '', month: '', out: null };
  if (!values.organization) throw new UsageError('--organization ID is required');
  if (!values.month) throw new UsageError('--month YYYY-MM is required');
  return { help: false, organization: values.organization, month: values.month, out: values.out ?? null };
}

async function main(argv: string[]): Promise<number> {
  const args = parse(argv);
  if (args.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const config = loadConfig();
  // Reading a DATA_DIR that holds no database creates none.
  if (!config.databaseUrl && !existsSync(join(config.dataDir, 'PG_VERSION'))) {
    throw new Refusal(`DATA_DIR ${config.dataDir} holds no database`);
  }
  let unlock: (() => void) | null = null;
  if (!config.databaseUrl) {
    try {
      unlock = lockDataDir(config.dataDir);
    } catch (error) {
      if (error instanceof DataDirInUseError) throw new Refusal(`DATA_DIR: ${error.message}; ask that gateway (GET /billing/…)`);
      throw error;
    }
  }
  let handle: DatabaseHandle | null = null;
  try {
    handle = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, poolSize: 2 });
    // The clock of record is the database's.
    const { rows } = await sql<{ now: Date }>`select clock_timestamp() as now`.execute(handle.db);
    const now = new Date(rows[0]?.now ?? Date.now());
    const report = await billingReport({ db: handle.db, catalogs: loadPresetCatalogs(), now }, args.organization, args.month);
    const csv = billingCsv(report);
    if (args.out) writeFileSync(args.out, csv);
    else process.stdout.write(csv);
    return 0;
  } catch (error) {
    // Coded refusals (unknown organization, bad month) are one line, not a failure of the tool.
    if (error instanceof GraphQLError) throw new Refusal(error.message);
    throw error;
  } finally {
    await handle?.close();
    unlock?.();
  }
}

runCli('billing', 'billing failed', main);
