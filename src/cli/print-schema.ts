/** `npm run print-schema`: writes schema.graphql from the Pothos schema (sorted). `--check` only compares. */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { printSortedSchema } from '../schema/index.ts';

const USAGE = `usage: npm run print-schema [-- --check | --help]

Prints the GraphQL schema built from the Pothos types (sorted) into
schema.graphql. With --check it only compares and exits 1 when the file is stale.

Exit codes: 0 written or up to date, 1 stale (--check), 2 usage error.
`;

let values: { check?: boolean; help?: boolean };
try {
  ({ values } = parseArgs({
    args: process.argv.slice(2),
    options: { check: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    strict: true,
    allowPositionals: false,
  }));
} catch (error) {
  console.error(`print-schema: ${error instanceof Error ? error.message : String(error)} (run with --help for usage)`);
  process.exit(2);
}
if (values.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}

const file = fileURLToPath(new URL('../../schema.graphql', import.meta.url));
const printed = printSortedSchema();
if (values.check) {
  const current = readFileSync(file, 'utf8');
  if (current !== printed) {
    console.error('schema.graphql is stale: run npm run print-schema');
    process.exit(1);
  }
  console.log('schema.graphql is up to date');
} else {
  writeFileSync(file, printed);
  console.log(`wrote ${file}`);
}
