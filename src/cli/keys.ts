/**
 * The vendor's key tool (R-KEY-2): `npm run keys -- <command>`.
 * Errors are one line on stderr naming what to fix; exit code 2 for usage
 * errors, 1 for bad input or a key that does not check out.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { systemClock } from '../clock.ts';
import { decodeKey, generateKeyPair, issueKey, parseTrustedKeys, verifyKey, type KeyFailureReason } from '../keys/codec.ts';
import { orderToPayload, type CatalogLookup } from '../keys/order.ts';
import { KeyFormatError, parsePayload } from '../keys/payload.ts';
import { parseStrictJson } from '../keys/strict-json.ts';
import {
  licenseStatus,
  nextTransitionAt,
  type LicenseState,
  type LicenseStatusResult,
  type LicenseWarning,
} from '../licensing/lifecycle.ts';

const USAGE = `Usage: npm run keys -- <command> [options]

Commands:
  keypair --out DIR
      Create an Ed25519 signing key pair in DIR: private.pem (mode 0600, keep it
      secret), public.pem, and public.txt (the value for LICENSE_PUBLIC_KEYS).
      Refuses to overwrite an existing DIR/private.pem.
  issue --private-key FILE --order ORDER.json
      Validate the order (see docs/license-keys.md) and print its licence key
      on stdout, on one line.
  inspect KEY|- [--json]
      Decode a key ("-" reads it from stdin), verify it against
      LICENSE_PUBLIC_KEYS when that is set, and show the state it would have now
      as the only key. Exit code 1 when it does not verify.

Options:
  -h, --help   show this help

Exit codes: 0 ok, 1 bad input or key, 2 usage error.
`;

/** Wrong command line: exit code 2. */
class UsageError extends Error {}
/** Bad files, orders or keys: exit code 1. */
class InputError extends Error {}

const OPTIONS = {
  out: { type: 'string' },
  'private-key': { type: 'string' },
  order: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

type OptionName = keyof typeof OPTIONS;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const [command, ...args] = positionals;
  /** Refuses options and arguments that belong to another command, rather than ignoring them. */
  const expect = (options: readonly OptionName[], argCount: number): void => {
    const misplaced = Object.keys(values).find((name) => !options.some((o) => o === name));
    if (misplaced !== undefined) throw new UsageError(`--${misplaced} is not an option of ${command}`);
    if (args.length !== argCount) throw new UsageError(`${command} takes ${argCount} argument(s), got ${args.length}`);
  };
  switch (command) {
    case 'keypair':
      expect(['out'], 0);
      return keypair(required(values.out, '--out DIR'));
    case 'issue':
      expect(['private-key', 'order'], 0);
      return issue(required(values['private-key'], '--private-key FILE'), required(values.order, '--order ORDER.json'));
    case 'inspect':
      expect(['json'], 1);
      return inspect(required(args[0], 'KEY (or - for stdin)'), values.json === true);
    case undefined:
      throw new UsageError('no command given');
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  }
}

function required(value: string | undefined, option: string): string {
  if (value === undefined || value === '') throw new UsageError(`${option} is required`);
  return value;
}

async function keypair(dir: string): Promise<number> {
  const privatePath = join(dir, 'private.pem');
  if (existsSync(privatePath)) {
    throw new InputError(`${privatePath} already exists; refusing to overwrite a signing key (choose another --out)`);
  }
  const pair = generateKeyPair();
  await mkdir(dir, { recursive: true });
  // 'wx' fails rather than overwrite if another process created the file meanwhile.
  await writeFile(privatePath, pair.privateKeyPem, { mode: 0o600, flag: 'wx' });
  await writeFile(join(dir, 'public.pem'), pair.publicKeyPem);
  await writeFile(join(dir, 'public.txt'), `${pair.publicKey}\n`);
  process.stdout.write(
    `kid          ${pair.kid}\n` +
      `private key  ${privatePath} (keep it secret: it signs licence keys)\n` +
      `public key   ${join(dir, 'public.pem')}, ${join(dir, 'public.txt')}\n` +
      `gateway      LICENSE_PUBLIC_KEYS=${pair.publicKey}\n`,
  );
  return 0;
}

async function readText(path: string, option: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw new InputError(`${option} ${path}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** The catalogs module's lookup, or null when src/catalogs is not there (orders are then not checked against a catalog). */
async function catalogLookup(): Promise<CatalogLookup | null> {
  if (!existsSync(new URL('../catalogs/index.ts', import.meta.url))) return null;
  const { getCatalog } = await import('../catalogs/index.ts');
  return getCatalog;
}

async function issue(privateKeyPath: string, orderPath: string): Promise<number> {
  const privateKeyPem = await readText(privateKeyPath, '--private-key');
  const orderText = await readText(orderPath, '--order');
  // Strict: an order naming a field twice is refused, not read as its last value.
  const order: unknown = withFile(orderPath, () => parseStrictJson(orderText, 'the order'));
  const lookup = await catalogLookup();
  if (lookup === null) process.stderr.write('keys: note: src/catalogs/index.ts not found; catalog and products were not checked\n');
  const payload = withFile(orderPath, () => orderToPayload(order, systemClock.now(), lookup ?? undefined));
  const key = withFile(privateKeyPath, () => issueKey(payload, privateKeyPem));
  process.stdout.write(`${key}\n`);
  process.stderr.write(`keys: issued ${payload.keyId} for ${payload.customerRef} (${payload.catalog}), kid ${decodeKey(key).kid}\n`);
  return 0;
}

/** Prefixes an error from `fn` with the file it concerns. */
function withFile<T>(path: string, fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    throw new InputError(`${path}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

interface InspectReport {
  kid: string;
  verification: Verification;
  payloadError: string | null;
  /** The key's state now as the only key; null when the payload is invalid. */
  status: {
    state: LicenseState;
    effectiveAt: Date;
    validFrom: Date | null;
    validUntil: Date | null;
    graceUntil: Date | null;
    renewalDueAt: Date | null;
    cancellationDeadline: Date | null;
    nextTransitionAt: Date | null;
    warnings: LicenseWarning[];
  } | null;
  payload: unknown;
}

type Verification =
  | { checked: false; note: string }
  | { checked: true; ok: true }
  | { checked: true; ok: false; reason: KeyFailureReason; message: string };

async function inspect(arg: string, json: boolean): Promise<number> {
  const key = arg === '-' ? await readStdin() : arg;
  const decoded = decodeKey(key);
  const trustedEnv = process.env.LICENSE_PUBLIC_KEYS;
  let verification: Verification;
  if (trustedEnv === undefined || trustedEnv.trim() === '') {
    verification = { checked: false, note: 'LICENSE_PUBLIC_KEYS is not set' };
  } else {
    const result = verifyKey(key, parseTrustedKeys(trustedEnv));
    verification = result.ok ? { checked: true, ok: true } : { checked: true, ok: false, reason: result.reason, message: result.message };
  }
  let payloadError: string | null = null;
  let status: LicenseStatusResult | null = null;
  try {
    const payload = parsePayload(decoded.content);
    const now = systemClock.now();
    status = licenseStatus({ keys: [{ payload, activatedAt: now, seq: 1 }], now, highWater: null });
  } catch (error) {
    if (!(error instanceof KeyFormatError)) throw error;
    payloadError = error.message;
  }
  const report: InspectReport = {
    kid: decoded.kid,
    verification,
    payloadError,
    status:
      status === null
        ? null
        : {
            state: status.state,
            effectiveAt: status.effectiveAt,
            validFrom: status.validFrom,
            validUntil: status.validUntil,
            graceUntil: status.graceUntil,
            renewalDueAt: status.renewalDueAt,
            cancellationDeadline: status.cancellationDeadline,
            nextTransitionAt: nextTransitionAt(status),
            warnings: status.warnings,
          },
    payload: decoded.content,
  };
  process.stdout.write(json ? `${JSON.stringify(report, null, 2)}\n` : humanReport(report));
  return payloadError === null && (!verification.checked || verification.ok) ? 0 : 1;
}

function humanReport(report: InspectReport): string {
  const v = report.verification;
  const lines = [
    `kid        ${report.kid}`,
    `signature  ${!v.checked ? `not checked (${v.note})` : v.ok ? 'verified against LICENSE_PUBLIC_KEYS' : `${v.reason}: ${v.message}`}`,
    `payload    ${report.payloadError === null ? 'valid' : `INVALID_PAYLOAD: ${report.payloadError}`}`,
  ];
  if (report.status !== null) {
    const next = report.status.nextTransitionAt;
    const s = report.status;
    const day = (d: Date | null): string => d?.toISOString() ?? '-';
    lines.push(
      `term       ${day(s.validFrom)} until ${day(s.validUntil)}; renewal due ${day(s.renewalDueAt)}, cancel by ${day(s.cancellationDeadline)}, grace until ${day(s.graceUntil)}`,
      `state now  ${report.status.state} (as the only key, at ${report.status.effectiveAt.toISOString()}${next === null ? '' : `; changes at ${next.toISOString()}`})`,
      ...report.status.warnings.map((w) => `warning    ${w.code}: ${w.message}`),
    );
  }
  lines.push(JSON.stringify(report.payload, null, 2));
  return `${lines.join('\n')}\n`;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
  return Buffer.concat(chunks).toString('utf8');
}

function isParseArgsError(error: unknown): boolean {
  return error instanceof Error && 'code' in error && typeof error.code === 'string' && error.code.startsWith('ERR_PARSE_ARGS');
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    const usage = error instanceof UsageError || isParseArgsError(error);
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`keys: ${message}${usage ? ' (run with --help for usage)' : ''}\n`);
    process.exitCode = usage ? 2 : 1;
  },
);
