import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseTrustedKeys, verifyKey } from '../../src/keys/codec.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CATALOGS = ['innoacd', 'xphone-connect', 'zoom-contact-center', 'connect-storm'] as const;
const catalogsPresent = existsSync(join(ROOT, 'src/catalogs/index.ts'));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI as a real process, as `npm run keys` would; never rejects, so exit codes can be asserted. */
function keys(args: string[], options: { env?: Record<string, string>; input?: string } = {}): Promise<Run> {
  const env: NodeJS.ProcessEnv = { ...process.env, ...options.env };
  if (options.env?.LICENSE_PUBLIC_KEYS === undefined) delete env.LICENSE_PUBLIC_KEYS;
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      ['--import', 'tsx', 'src/cli/keys.ts', ...args],
      { cwd: ROOT, env, timeout: 30_000 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
    child.stdin?.end(options.input ?? '');
  });
}

/** One line naming the problem, never a stack trace. */
function expectOneLineError(run: Run): void {
  expect(run.stderr.trim().split('\n')).toHaveLength(1);
  expect(run.stderr).not.toMatch(/^\s+at /m);
}

let dir: string;
let vendor: string;
let publicKey: string;
const issued = new Map<string, string>();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'keys-cli-'));
  vendor = join(dir, 'vendor');
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('npm run keys', { timeout: 60_000 }, () => {
  it('[R-KEY-2] keypair writes private.pem (0600), public.pem and public.txt', async () => {
    const run = await keys(['keypair', '--out', vendor]);
    expect(run.code).toBe(0);
    publicKey = (await readFile(join(vendor, 'public.txt'), 'utf8')).trim();
    expect(publicKey).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect((await stat(join(vendor, 'private.pem'))).mode & 0o777).toBe(0o600);
    expect(await readFile(join(vendor, 'private.pem'), 'utf8')).toContain('BEGIN PRIVATE KEY');
    const [trusted] = parseTrustedKeys(await readFile(join(vendor, 'public.pem'), 'utf8'));
    expect(trusted?.publicKey).toBe(publicKey);
    expect(run.stdout).toContain(`kid          ${trusted?.kid}`);
    expect(run.stdout).toContain(`LICENSE_PUBLIC_KEYS=${publicKey}`);
  });

  it('[R-KEY-2] keypair refuses to overwrite an existing private.pem', async () => {
    const before = await readFile(join(vendor, 'private.pem'), 'utf8');
    const run = await keys(['keypair', '--out', vendor]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('private.pem already exists; refusing to overwrite');
    expectOneLineError(run);
    expect(await readFile(join(vendor, 'private.pem'), 'utf8')).toBe(before);
  });

  it.each(CATALOGS)('[R-KEY-2] issue prints one key line for docs/orders/%s.json', async (catalog) => {
    const run = await keys([
      'issue',
      '--private-key',
      join(vendor, 'private.pem'),
      '--order',
      join(ROOT, 'docs/orders', `${catalog}.json`),
    ]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^LK1\.\S+\n$/);
    if (!catalogsPresent) expect(run.stderr).toContain('catalog and products were not checked');
    const key = run.stdout.trim();
    const result = verifyKey(key, parseTrustedKeys(publicKey));
    if (!result.ok) throw new Error(result.message);
    const order: unknown = JSON.parse(await readFile(join(ROOT, 'docs/orders', `${catalog}.json`), 'utf8'));
    expect(result.payload).toMatchObject({ catalog, issuedAt: expect.any(String) });
    expect(order).toMatchObject({ customerRef: result.payload.customerRef });
    issued.set(catalog, key);
  });

  it('[R-KEY-2] inspect verifies against LICENSE_PUBLIC_KEYS and shows the state now', async () => {
    const key = issued.get('innoacd') ?? '';
    const run = await keys(['inspect', key], { env: { LICENSE_PUBLIC_KEYS: publicKey } });
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('signature  verified against LICENSE_PUBLIC_KEYS');
    expect(run.stdout).toContain('2026-01-15T00:00:00.000Z until 2027-01-15T00:00:00.000Z');
    expect(run.stdout).toMatch(/state now {2}(PENDING|ACTIVE|RENEWAL_DUE|GRACE|DEMO) \(as the only key/);
    expect(run.stdout).toContain('"product": "ACD_AGENT"');
  });

  it('[R-KEY-2] inspect - --json reads the key from stdin and trusts a PEM in LICENSE_PUBLIC_KEYS', async () => {
    const pem = await readFile(join(vendor, 'public.pem'), 'utf8');
    const run = await keys(['inspect', '-', '--json'], {
      env: { LICENSE_PUBLIC_KEYS: pem },
      input: `${issued.get('zoom-contact-center')}\n`,
    });
    expect(run.code).toBe(0);
    const report: unknown = JSON.parse(run.stdout);
    expect(report).toMatchObject({
      verification: { checked: true, ok: true },
      payloadError: null,
      status: { validUntil: '2027-04-01T00:00:00.000Z', cancellationDeadline: '2027-01-01T00:00:00.000Z' },
      payload: { catalog: 'zoom-contact-center', autoRenew: false },
    });
  });

  it('[R-KEY-2] inspect with another trusted key reports UNKNOWN_SIGNER and exits 1', async () => {
    const other = join(dir, 'other');
    expect((await keys(['keypair', '--out', other])).code).toBe(0);
    const otherKey = (await readFile(join(other, 'public.txt'), 'utf8')).trim();
    const run = await keys(['inspect', issued.get('innoacd') ?? ''], { env: { LICENSE_PUBLIC_KEYS: otherKey } });
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('signature  UNKNOWN_SIGNER: licence key was signed by an unknown key');
  });

  it('[R-KEY-2] inspect without LICENSE_PUBLIC_KEYS decodes but says the signature was not checked', async () => {
    const run = await keys(['inspect', issued.get('connect-storm') ?? '']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('signature  not checked (LICENSE_PUBLIC_KEYS is not set)');
  });

  it('[R-KEY-2] a bad order file is refused with one line naming the field, exit code 1', async () => {
    const order = join(dir, 'bad-order.json');
    await writeFile(
      order,
      JSON.stringify({
        customerRef: 'CUST-1',
        catalog: 'innoacd',
        validFrom: '2026-01-15',
        entitlements: [{ product: 'ACD_AGENT', quantity: 'fifty' }],
      }),
    );
    const run = await keys(['issue', '--private-key', join(vendor, 'private.pem'), '--order', order]);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain('entitlements[0].quantity must be a whole number from 0 to 1000000');
    expectOneLineError(run);
  });

  it('[R-KEY-2] an order beyond a bound, or naming a field twice, is refused naming the field, exit code 1', async () => {
    const order = join(dir, 'unbounded-order.json');
    const base =
      '{"customerRef":"CUST-1","catalog":"innoacd","validFrom":"2026-01-15","entitlements":[{"product":"ACD_AGENT","quantity":5}]';
    const cases: [string, string][] = [
      [`${base},"graceDays":1e12}`, 'graceDays must be a whole number from 0 to 3650'],
      [`${base.replace('"quantity":5', '"quantity":3000000000')}}`, 'entitlements[0].quantity must be a whole number from 0 to 1000000'],
      [`${base.replace('"quantity":5', '"quantity":10,"quantity":100000')}}`, 'duplicate member "quantity" in entitlements[0]'],
    ];
    for (const [text, message] of cases) {
      await writeFile(order, text);
      const run = await keys(['issue', '--private-key', join(vendor, 'private.pem'), '--order', order]);
      expect(run.code).toBe(1);
      expect(run.stdout).toBe('');
      expect(run.stderr).toContain(message);
      expectOneLineError(run);
    }
  });

  it.skipIf(!catalogsPresent)('[R-KEY-2] an order naming an unknown product or catalog is refused', async () => {
    const order = join(dir, 'unknown-product.json');
    const base = {
      customerRef: 'CUST-2',
      validFrom: '2026-03-01',
      entitlements: [
        { product: 'SERVER', quantity: 1 },
        { product: 'OFFYCE', quantity: 5 },
      ],
    };
    await writeFile(order, JSON.stringify({ ...base, catalog: 'xphone-connect' }));
    const run = await keys(['issue', '--private-key', join(vendor, 'private.pem'), '--order', order]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('entitlements[1].product: unknown product OFFYCE in catalog xphone-connect');
    await writeFile(order, JSON.stringify({ ...base, catalog: 'xphone' }));
    expect((await keys(['issue', '--private-key', join(vendor, 'private.pem'), '--order', order])).stderr).toContain(
      'catalog: unknown catalog xphone',
    );
  });

  it('[R-KEY-2] a malformed key is refused with one line, exit code 1', async () => {
    const run = await keys(['inspect', 'LK1.abc']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('licence key is malformed');
    expectOneLineError(run);
  });

  it('[R-KEY-2] usage errors exit 2; --help exits 0', async () => {
    const none = await keys([]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('no command given');
    const missing = await keys(['issue', '--order', 'x.json']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('--private-key FILE is required');
    expectOneLineError(missing);
    const help = await keys(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('issue --private-key FILE --order ORDER.json');
  });
});
