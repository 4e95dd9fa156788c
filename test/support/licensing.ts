import { createPrivateKey, sign } from 'node:crypto';
import type { LogEvent } from 'kysely';
import type { MappingRow as MappingColumns } from '../../src/licensing/reports.ts';
import { openDatabase, type DatabaseKind } from '../../src/db/database.ts';
import { migrateToLatest } from '../../src/db/migrate.ts';
import { generateKeyPair, issueKey, parseTrustedKeys, type TrustedKey } from '../../src/keys/codec.ts';
import { orderToPayload } from '../../src/keys/order.ts';
import { freshDatabase, type TestDatabase } from './databases.ts';
import { createOrg, createUser, type OrgFixture, type Result, type TestGateway } from './gateway.ts';

/*
 * Licence keys and licensed organizations for integration tests: one vendor
 * key pair per test process, keys issued from order-like entitlements and
 * activated through the public API.
 */

export const VENDOR = generateKeyPair();
/** Pass to startGateway(kind, { trustedKeys: TRUSTED_KEYS }). */
export const TRUSTED_KEYS: TrustedKey[] = parseTrustedKeys(VENDOR.publicKey);

/** Start of the keys issued here (before the test gateway's default clock, 2026-11-22). */
export const KEY_VALID_FROM = '2026-11-01T00:00:00.000Z';

export interface Bought {
  product: string;
  quantity: number;
  allocation?: 'NAMED' | 'CONCURRENT' | 'FIXED_SEAT' | 'ACCOUNT';
  emergencyQuantity?: number;
  overageAllowed?: boolean;
  overageGraceMinutes?: number;
}

/**
 * A signed key for `catalog` with the given entitlements (order format, see
 * docs/license-keys.md), for the customer of `options.org` (customer
 * references are unique per organization) or `options.customerRef`.
 */
export function issueLicenseKey(
  catalog: string,
  entitlements: readonly Bought[],
  options: { org?: Pick<OrgFixture, 'customerRef'>; customerRef?: string; validFrom?: string; termMonths?: number; keyId?: string } = {},
): string {
  const validFrom = options.validFrom ?? KEY_VALID_FROM;
  const order: Record<string, unknown> = {
    customerRef: options.customerRef ?? options.org?.customerRef ?? 'CUST-1',
    catalog,
    validFrom,
    // Drops undefined fields: orders are JSON.
    entitlements: JSON.parse(JSON.stringify(entitlements)),
  };
  if (options.termMonths !== undefined) order.termMonths = options.termMonths;
  if (options.keyId !== undefined) order.keyId = options.keyId;
  return issueKey(orderToPayload(order, new Date(validFrom)), VENDOR.privateKeyPem);
}

const ACTIVATE = `mutation($input: ActivateLicenseKeyInput!) { activateLicenseKey(input: $input) { license { state } } }`;

export async function activateKey(gw: TestGateway, org: OrgFixture, key: string): Promise<void> {
  const data = await gw.ok<{ activateLicenseKey: { license: { state: string } } }>(
    ACTIVATE,
    { input: { organizationId: org.organizationId, key } },
    org.admin,
  );
  if (data.activateLicenseKey.license.state !== 'ACTIVE') throw new Error(`key not active: ${data.activateLicenseKey.license.state}`);
}

let orgCounter = 0;

/** A new organization of `catalog` with one site; with `bought` its key is issued and activated (null: no key, demo state). */
export async function licensedOrg(gw: TestGateway, catalog: string, bought: readonly Bought[] | null): Promise<OrgFixture> {
  const org = await createOrg(gw, catalog, `${catalog} ${++orgCounter}`);
  if (bought) await activateKey(gw, org, issueLicenseKey(catalog, bought, { org }));
  return org;
}

const CREATE_GROUP = `mutation($input: CreateConfigurationGroupInput!) { createConfigurationGroup(input: $input) { configurationGroup { id } } }`;

export async function createGroup(
  gw: TestGateway,
  org: OrgFixture,
  name: string,
  functions: string[],
  options: string[] = [],
  siteId = org.siteId,
): Promise<string> {
  const data = await gw.ok<{ createConfigurationGroup: { configurationGroup: { id: string } } }>(
    CREATE_GROUP,
    { input: { siteId, name, functions, options } },
    org.admin,
  );
  return data.createConfigurationGroup.configurationGroup.id;
}

const CREATE_TEAM = `mutation($input: CreateTeamInput!) { createTeam(input: $input) { team { id } } }`;

export async function createTeam(gw: TestGateway, org: OrgFixture, name: string, leaderId?: string): Promise<string> {
  const data = await gw.ok<{ createTeam: { team: { id: string } } }>(
    CREATE_TEAM,
    { input: { organizationId: org.organizationId, name, leaderId } },
    org.admin,
  );
  return data.createTeam.team.id;
}

/** `count` users created one by one through createUser; `stepMs` moves the clock between them (a strict fixed order). */
export async function createUsers(
  gw: TestGateway,
  org: OrgFixture,
  count: number,
  options: { prefix?: string; configurationGroupId?: string; teamId?: string; status?: string; siteId?: string; stepMs?: number } = {},
): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    if (options.stepMs && i > 0) gw.clock.advance(options.stepMs);
    ids.push(
      await createUser(gw, org.admin, {
        siteId: options.siteId ?? org.siteId,
        name: `${options.prefix ?? 'User'} ${i + 1}`,
        ...(options.configurationGroupId ? { configurationGroupId: options.configurationGroupId } : {}),
        ...(options.teamId ? { teamId: options.teamId } : {}),
        ...(options.status ? { status: options.status } : {}),
      }),
    );
  }
  return ids;
}

const MOVE_USERS = `mutation($input: MoveUsersInput!) { moveUsers(input: $input) { applied } }`;

/** Moves users into a configuration group in one moveUsers call (one transaction, however many users). */
export async function moveUsers(gw: TestGateway, org: OrgFixture, userIds: readonly string[], configurationGroupId: string): Promise<void> {
  const data = await gw.ok<{ moveUsers: { applied: boolean } }>(MOVE_USERS, { input: { userIds, configurationGroupId } }, org.admin);
  if (!data.moveUsers.applied) throw new Error('moveUsers did not apply');
}

/**
 * `count` new members of a configuration group, fast: created without a group
 * (nothing to allocate), then moved into it at once. They are configured at
 * the same instant, so the fixed order among them is their id order.
 */
export async function createMembers(
  gw: TestGateway,
  org: OrgFixture,
  count: number,
  configurationGroupId: string,
  options: { prefix?: string; teamId?: string } = {},
): Promise<string[]> {
  const ids = await createUsers(gw, org, count, options);
  await moveUsers(gw, org, ids, configurationGroupId);
  return ids;
}

const ASSIGN = `mutation($input: AssignLicenseInput!) {
  assignLicense(input: $input) { license { product { code } source status rank } user { id } }
}`;
const UNASSIGN = `mutation($input: UnassignLicenseInput!) { unassignLicense(input: $input) { user { id licenses { product { code } source status } } } }`;

export function assignLicense(gw: TestGateway, org: OrgFixture, userId: string, product: string): Promise<Result> {
  return gw.gql(ASSIGN, { input: { userId, product } }, org.admin);
}

export function unassignLicense(gw: TestGateway, org: OrgFixture, userId: string, product: string): Promise<Result> {
  return gw.gql(UNASSIGN, { input: { userId, product } }, org.admin);
}

export interface LicenseView {
  product: { code: string };
  source: 'DIRECT' | 'GROUP' | 'INCLUDED';
  status: 'GRANTED' | 'UNLICENSED' | 'MISSING_PREREQUISITE';
  rank: number | null;
}

export interface WarningView {
  code: string;
  message: string;
  product: { code: string } | null;
}

const USER_LICENSES = `query($id: ID!) {
  user(id: $id) { id licenses { product { code } source status rank } warnings { code message product { code } } }
}`;

export async function licensesOf(
  gw: TestGateway,
  org: OrgFixture,
  userId: string,
): Promise<{ licenses: LicenseView[]; warnings: WarningView[] }> {
  const data = await gw.ok<{ user: { licenses: LicenseView[]; warnings: WarningView[] } }>(USER_LICENSES, { id: userId }, org.admin);
  return { licenses: data.user.licenses, warnings: data.user.warnings };
}

/** product code → status of one user's licences. */
export async function statusesOf(gw: TestGateway, org: OrgFixture, userId: string): Promise<Record<string, string>> {
  const { licenses } = await licensesOf(gw, org, userId);
  return Object.fromEntries(licenses.map((l) => [l.product.code, l.status]));
}

export const MAPPING_COLUMNS =
  'product { code kind } total inUse reusable available concurrentTotal concurrentInUse concurrentAvailable emergencyTotal emergencyInUse emergencyPeakThisPeriod emergencyAvailable unitsTotal';

/** A licence mapping row as the API returns it: the columns of the pure function, the product as an object. */
export type MappingRow = Omit<MappingColumns, 'product'> & { product: { code: string; kind: string } };

const MAPPING = `query($id: ID!, $kinds: [ProductKind!]) { organization(id: $id) { licenseMapping(kinds: $kinds) { ${MAPPING_COLUMNS} } } }`;

export async function licenseMapping(gw: TestGateway, org: OrgFixture, kinds?: string[]): Promise<MappingRow[]> {
  const data = await gw.ok<{ organization: { licenseMapping: MappingRow[] } }>(
    MAPPING,
    { id: org.organizationId, kinds: kinds ?? null },
    org.admin,
  );
  return data.organization.licenseMapping;
}

export async function mappingRow(gw: TestGateway, org: OrgFixture, product: string): Promise<MappingRow | undefined> {
  return (await licenseMapping(gw, org)).find((r) => r.product.code === product);
}

/** The organization's events, oldest first, straight from the append-only table. */
export function eventsOf(gw: TestGateway, organizationId: string) {
  return gw.database.db
    .selectFrom('events')
    .select(['id', 'type', 'user_id', 'product_code', 'detail'])
    .where('organization_id', '=', organizationId)
    .orderBy('at')
    .orderBy('id')
    .execute();
}

/** The channel of each `pg_notify($n, …)` of a statement, from its parameters. */
function notifiedChannels(text: string, parameters: readonly unknown[]): unknown[] {
  return [...text.matchAll(/pg_notify\(\$(\d+)/g)].map((m) => parameters[Number(m[1]) - 1]);
}

/**
 * A fresh migrated database whose Kysely instance counts every SQL statement
 * it runs (R-API-4). PostgreSQL: a new database of its own, as freshDatabase.
 */
export async function countingDatabase(kind: DatabaseKind): Promise<{
  database: TestDatabase;
  /** Statements since the last reset, live notices (`pg_notify`) apart: those the announcer sends after commits. */
  statements(): number;
  sql(): string[];
  /**
   * What the announcer sent since the last reset, one entry per send (its
   * payloads as JSON): a statement of `pg_notify` calls on PostgreSQL; on
   * PGlite a hand-over to this process's listeners, without SQL.
   */
  notices(): string[];
  /** The `pg_notify` statements since the last reset (none of the announcer's on PGlite). */
  noticeStatements(): string[];
  /**
   * The channels of the `pg_notify` statements since the last reset that ran
   * while a transaction was open (after a BEGIN, before its COMMIT or
   * ROLLBACK). Exact for one write at a time (PGlite has one connection; on
   * PostgreSQL run the writes one after the other and `settle` in between).
   */
  noticesInTransactions(): unknown[];
  /** Waits until the announcer sent every notice handed to it so far (db/announcer.ts). */
  settle(): Promise<void>;
  reset(): void;
}> {
  let seen: string[] = [];
  let inside: unknown[] = [];
  let open = 0;
  const notice = (q: string) => /^select pg_notify\(/.test(q);
  const log = (event: LogEvent) => {
    const text = event.query.sql;
    // A failed COMMIT or ROLLBACK still ends the transaction; a failed BEGIN opened none.
    if (/^(begin|start transaction)\b/i.test(text) && event.level === 'query') open++;
    else if (/^(commit|rollback)\b/i.test(text)) open = Math.max(0, open - 1);
    if (event.level !== 'query') return;
    seen.push(text);
    if (open > 0 && notice(text)) inside.push(...notifiedChannels(text, event.query.parameters));
  };
  let database: TestDatabase;
  if (kind === 'pglite') {
    const handle = await openDatabase({ databaseUrl: null, dataDir: null, log });
    await migrateToLatest(handle.db);
    database = { ...handle, url: null, dispose: () => handle.close() };
  } else {
    const base = await freshDatabase(kind);
    const handle = await openDatabase({ databaseUrl: base.url, dataDir: null, log });
    database = {
      ...handle,
      url: base.url,
      dispose: async () => {
        await handle.close();
        await base.dispose();
      },
    };
  }
  seen = [];
  let sent: string[] = [];
  const { announcer } = database.db;
  const send = announcer.send;
  announcer.send = (channel, payloads) => {
    sent.push(JSON.stringify(payloads));
    return send(channel, payloads);
  };
  return {
    database,
    statements: () => seen.filter((q) => !notice(q)).length,
    sql: () => seen.filter((q) => !notice(q)),
    notices: () => [...sent],
    noticeStatements: () => seen.filter(notice),
    noticesInTransactions: () => [...inside],
    settle: () => database.db.announcer.flushed(),
    reset: () => {
      seen = [];
      inside = [];
      sent = [];
    },
  };
}

/**
 * Signs any payload text with the test vendor's key, as a vendor tool that
 * skipped validation would (or an older gateway's issuer): for keys whose
 * payload the gateway must refuse after the signature checks out.
 */
export function signPayloadText(payloadJson: string): string {
  const signedText = `LK1.${VENDOR.kid}.${Buffer.from(payloadJson, 'utf8').toString('base64url')}`;
  return `${signedText}.${sign(null, Buffer.from(signedText, 'ascii'), createPrivateKey(VENDOR.privateKeyPem)).toString('base64url')}`;
}
