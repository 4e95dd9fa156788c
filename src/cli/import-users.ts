/**
 * Imports users from a CSV file through the gateway's GraphQL API
 * (importUsers): `npm run import-users -- --file users.csv --organization ID`.
 * One request, one transaction: every row is created, or none is. Errors are
 * one line on stderr naming what to fix; exit code 2 for usage errors, 1 for a
 * file, a request or rows that were refused.
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { parse } from 'csv-parse/sync';

const USAGE = `Usage: npm run import-users -- --file FILE.csv --organization ID [options]

Reads FILE.csv (UTF-8, a header row, comma-separated, quotes as in RFC 4180)
with the columns
  name, email, site, group, team, role, status
(name, site and role required; site, group and team by name or id; role one of
AGENT SUPERVISOR TEAM_LEAD ADMINISTRATOR UC_USER VIEWER; status PREPARING,
ACTIVE or INACTIVE, default ACTIVE) and sends them to the gateway's importUsers
in one request: every row is created, or none is (at most 5000 rows).

Options:
  --file FILE          the CSV file ("-" reads stdin)
  --organization ID    the organization to import into
  --url URL            the gateway's GraphQL endpoint (default http://localhost:4000/graphql)
  --dry-run            check every row and the licence rules, create nothing
  --json               print the gateway's answer as JSON
  -h, --help           show this help

The token (an ADMIN token of the organization, or the operator's) comes from
the environment variable GATEWAY_TOKEN.

Exit codes: 0 imported (or a dry run found nothing to refuse), 1 refused or failed, 2 usage error.
`;

class UsageError extends Error {}
class InputError extends Error {}

const OPTIONS = {
  file: { type: 'string' },
  organization: { type: 'string' },
  url: { type: 'string' },
  'dry-run': { type: 'boolean' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

const COLUMNS = ['name', 'email', 'site', 'group', 'team', 'role', 'status'] as const;
const REQUIRED = ['name', 'site', 'role'] as const;

const IMPORT = `mutation ImportUsers($input: ImportUsersInput!) {
  importUsers(input: $input) { applied created refused rows { index field rule message } }
}`;

interface Answer {
  applied: boolean;
  created: number;
  refused: number;
  rows: { index: number; field: string | null; rule: string | null; message: string | null }[];
}

/** The rows of the CSV text as importUsers takes them; a missing column or an empty required cell is an InputError naming the line. */
function rowsOfCsv(text: string): Record<string, string | null>[] {
  let records: string[][];
  try {
    records = parse(text, { bom: true, skip_empty_lines: true, relax_column_count: false, trim: true });
  } catch (error) {
    throw new InputError(`the file is not valid CSV: ${(error as Error).message}`);
  }
  const [header, ...body] = records;
  if (!header) throw new InputError('the file is empty; it needs a header row');
  const names = header.map((h) => h.toLowerCase());
  const unknown = names.filter((n) => !(COLUMNS as readonly string[]).includes(n));
  if (unknown.length > 0) throw new InputError(`unknown column(s) ${unknown.join(', ')}; known: ${COLUMNS.join(', ')}`);
  const missing = REQUIRED.filter((c) => !names.includes(c));
  if (missing.length > 0) throw new InputError(`the header lacks the column(s) ${missing.join(', ')}`);
  return body.map((cells, i) => {
    const row: Record<string, string | null> = {};
    names.forEach((name, c) => {
      const value = cells[c] ?? '';
      const key = name === 'group' ? 'configurationGroup' : name;
      row[key] = value === '' ? null : name === 'role' || name === 'status' ? value.toUpperCase() : value;
    });
    for (const c of REQUIRED) if (row[c] === null) throw new InputError(`line ${i + 2}: ${c} is empty`);
    return row;
  });
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${positionals[0]}`);
  if (!values.file) throw new UsageError('--file is required');
  if (!values.organization) throw new UsageError('--organization is required');
  const token = process.env.GATEWAY_TOKEN?.trim();
  if (!token) throw new UsageError('GATEWAY_TOKEN is not set: export an ADMIN token of the organization (or the operator token)');
  const url = values.url ?? 'http://localhost:4000/graphql';
  let text: string;
  try {
    text = values.file === '-' ? await readStdin() : await readFile(values.file, 'utf8');
  } catch (error) {
    throw new InputError(`cannot read ${values.file}: ${(error as Error).message}`);
  }
  const users = rowsOfCsv(text);
  const started = Date.now();
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json', authorization: `Bearer ${token}` },
      body: JSON.stringify({
        query: IMPORT,
        variables: { input: { organizationId: values.organization, users, dryRun: values['dry-run'] ?? false } },
      }),
    });
  } catch (error) {
    throw new InputError(`cannot reach ${url}: ${(error as Error).message}`);
  }
  const body = (await response.json().catch(() => null)) as {
    data?: { importUsers?: Answer | null };
    errors?: { message: string }[];
  } | null;
  if (!body) throw new InputError(`the gateway answered HTTP ${response.status} without a GraphQL result`);
  if (body.errors?.length) throw new InputError(body.errors.map((e) => e.message).join('; '));
  const answer = body.data?.importUsers;
  if (!answer) throw new InputError('the gateway returned no importUsers result');
  if (values.json) process.stdout.write(`${JSON.stringify(answer, null, 2)}\n`);
  else {
    for (const row of answer.rows.filter((r) => r.field !== null)) {
      process.stdout.write(`line ${row.index + 2}: ${row.message ?? row.field}\n`);
    }
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    const what = answer.applied
      ? `imported ${answer.created} user(s)`
      : values['dry-run'] && answer.refused === 0
        ? `dry run: ${answer.created} user(s) would be imported`
        : `nothing imported: ${answer.refused} row(s) refused`;
    process.stdout.write(`${what} in ${seconds} s\n`);
  }
  return answer.refused === 0 ? 0 : 1;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof UsageError || (error instanceof TypeError && 'code' in error && String(error.code).startsWith('ERR_PARSE_ARGS'))) {
      process.stderr.write(`import-users: ${(error as Error).message}\n(see npm run import-users -- --help)\n`);
      process.exitCode = 2;
    } else if (error instanceof InputError) {
      process.stderr.write(`import-users: ${error.message}\n`);
      process.exitCode = 1;
    } else {
      process.stderr.write(`import-users: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = 1;
    }
  },
);
