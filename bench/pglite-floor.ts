/*
 * The PGlite same-work floor, in a process of its own (the gateway that ran
 * the storm has stopped and released the data directory): the gateway's
 * one-statement start (sameWorkScript, the statement of pgbench's floor on
 * PostgreSQL) executed back to back on PGlite itself, no HTTP, no GraphQL,
 * no gateway code. What PGlite alone needs for the start's checks and writes
 * on this machine; the storm's rate is reported next to it. Run by
 * bench/run.ts:
 *
 *   node --import tsx bench/pglite-floor.ts DATA_DIR ORGANIZATION_ID PRODUCT COUNT
 *
 * It ends every open session of the organization and frees its pool first
 * (the storm filled it), prepares the statement, then makes COUNT starts
 * (the first 20 a warm-up, untimed); prints one JSON line:
 * { "perSecond": …, "executions": …, "started": … }.
 */
import { PGlite } from '@electric-sql/pglite';
import { sameWorkScript, setUpSameWork } from './postgres.ts';

const [dataDir, organizationId, product, countText] = process.argv.slice(2);
const count = Number(countText);
if (!dataDir || !organizationId || !product || !Number.isInteger(count) || count <= 0) {
  console.error('usage: bench/pglite-floor.ts DATA_DIR ORGANIZATION_ID PRODUCT COUNT');
  process.exit(2);
}

const db = await PGlite.create(dataDir);
let code = 0;
try {
  await db.query(`update sessions set ended_at = now(), end_reason = 'ENDED' where organization_id = $1 and ended_at is null`, [
    organizationId,
  ]);
  await db.query('update seat_pools set in_use = 0 where organization_id = $1', [organizationId]);
  await setUpSameWork((text, params) => db.query(text, params), organizationId);
  const org = await db.query<{ revision: string; clock_high_water: Date | null }>(
    'select revision, clock_high_water from organizations where id = $1',
    [organizationId],
  );
  const row = org.rows[0];
  if (!row) throw new Error(`no organization ${organizationId}`);
  const statement = sameWorkScript({
    organizationId,
    revision: Number(row.revision),
    highWater: row.clock_high_water ? new Date(row.clock_high_water).toISOString() : null,
    product,
  });
  // Prepared once, as the gateway prepares its start (db/prepared.ts): executed, not parsed and planned each time.
  await db.exec(`prepare same_work as ${statement.trim().replace(/;$/, '')}`);
  // Warm-up, of the COUNT: the first executions plan and fill PGlite's caches.
  const warmup = Math.min(20, count - 1);
  for (let i = 0; i < warmup; i++) await db.query('execute same_work');
  const started = process.hrtime.bigint();
  for (let i = warmup; i < count; i++) await db.query('execute same_work');
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const open = await db.query<{ n: number }>('select count(*)::int as n from sessions where organization_id = $1 and ended_at is null', [
    organizationId,
  ]);
  console.log(JSON.stringify({ perSecond: (count - warmup) / seconds, executions: count, started: open.rows[0]?.n ?? 0 }));
} catch (error) {
  console.error(`pglite floor: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  code = 1;
} finally {
  await db.close();
}
process.exit(code);
