/*
 * Loads a PGlite data directory for the storm, in a process of its own (a
 * fresh heap for PGlite's WebAssembly memory, whatever the bench did before):
 * the gateway's app in process (organizations, tokens and keys through its
 * API), users by SQL. Run by bench/run.ts:
 *
 *   node --import tsx bench/pglite-loader.ts SPEC.json OUT.json
 *
 * SPEC: { dataDir, warmup: agents, single: { agents, capacity, emergency }, multi: { orgs, agents, capacity, emergency } | null }
 * OUT:  { warm: { fixture, users }, one: { fixture, users, activation }, multi: [{ fixture, users }] }
 *
 * `warm` is an organization of its own for the warm-up storm (as on PostgreSQL), every agent with a seat.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createOrgFixture, inProcessGateway, loadAndActivate, userIdsOf, type Activation, type OrgFixture } from './load.ts';

interface Sizes {
  agents: number;
  capacity: number;
  emergency: number;
}

const [specFile, outFile] = process.argv.slice(2);
if (!specFile || !outFile) {
  console.error('usage: bench/pglite-loader.ts SPEC.json OUT.json');
  process.exit(2);
}
const spec = JSON.parse(readFileSync(specFile, 'utf8')) as {
  dataDir: string;
  warmup: number;
  single: Sizes;
  multi: (Sizes & { orgs: number }) | null;
};

const loader = await inProcessGateway(spec.dataDir);
let code = 0;
try {
  const warm = await createOrgFixture(loader.api, 'PGlite warm-up');
  await loadAndActivate(loader.api, loader.sql, warm, spec.warmup, spec.warmup, 0);
  const one = await createOrgFixture(loader.api, 'PGlite storm 1');
  const activation = await loadAndActivate(loader.api, loader.sql, one, spec.single.agents, spec.single.capacity, spec.single.emergency);
  const out: {
    warm: { fixture: OrgFixture; users: string[] };
    one: { fixture: OrgFixture; users: string[]; activation: Activation };
    multi: { fixture: OrgFixture; users: string[] }[];
  } = {
    warm: { fixture: warm, users: await userIdsOf(loader.sql, warm.organizationId) },
    one: { fixture: one, users: await userIdsOf(loader.sql, one.organizationId), activation },
    multi: [],
  };
  for (let i = 0; spec.multi && i < spec.multi.orgs; i++) {
    const f = await createOrgFixture(loader.api, `PGlite multi ${i + 1}`);
    await loadAndActivate(loader.api, loader.sql, f, spec.multi.agents, spec.multi.capacity, spec.multi.emergency);
    out.multi.push({ fixture: f, users: await userIdsOf(loader.sql, f.organizationId) });
  }
  writeFileSync(outFile, JSON.stringify(out));
} catch (error) {
  console.error(`pglite loader: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  code = 1;
} finally {
  await loader.close().catch((error: unknown) => {
    console.error(`pglite loader: closing PGlite failed: ${String(error)}`);
    code = 1;
  });
}
process.exit(code);
