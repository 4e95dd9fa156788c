import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { BILLING_CSV_COLUMNS, type BillingReport, billingCsv } from '../../src/billing/billing.service.ts';
import { loadPresetCatalogs } from '../../src/catalogs/index.ts';
import { monthOf, monthPeriod } from '../../src/licensing/billing.ts';

/* Billing periods by month and the CSV form of a report (docs/rules.md R-BILL-1, R-BILL-2). */

describe('monthPeriod', () => {
  it('[R-BILL-1] YYYY-MM is the calendar month in UTC, December running into the next year', () => {
    expect(monthPeriod('2026-11')).toEqual({
      period: '2026-11',
      from: new Date('2026-11-01T00:00:00.000Z'),
      to: new Date('2026-12-01T00:00:00.000Z'),
    });
    expect(monthPeriod('2026-12')?.to).toEqual(new Date('2027-01-01T00:00:00.000Z'));
    expect(monthPeriod('2028-02')?.to).toEqual(new Date('2028-03-01T00:00:00.000Z'));
    expect(monthOf(new Date('2026-11-30T23:59:59.999Z'))).toBe('2026-11');
  });

  it('[R-BILL-1] anything else is no month', () => {
    for (const text of ['2026-13', '2026-00', '2026-1', '26-11', '2026-11-01', ' 2026-11', '1999-12', 'November', '']) {
      expect(monthPeriod(text)).toBeNull();
    }
  });
});

describe('billingCsv', () => {
  const catalog = loadPresetCatalogs().get('connect-storm')!;
  const report = (name: string, rows: BillingReport['rows'] = []): BillingReport => ({
    organizationId: 'org-1',
    organizationName: name,
    catalog,
    period: '2026-11',
    from: new Date('2026-11-01T00:00:00.000Z'),
    to: new Date('2026-12-01T00:00:00.000Z'),
    at: new Date('2026-12-02T00:00:00.000Z'),
    complete: true,
    activeUsers: 7,
    overageInvoicedIn: '2026-12',
    rows,
  });
  const row = {
    product: 'AGENT_SEAT',
    allocation: 'CONCURRENT' as const,
    licensed: 25,
    emergencyLicensed: 5,
    peakConcurrent: 28,
    emergencyPeak: 3,
    billableOverage: 0,
    overageEpisodes: [],
  };

  it('[R-BILL-2] a header row and CRLF line ends; a report without products is the header alone', () => {
    expect(billingCsv(report('Acme'))).toBe(`${BILLING_CSV_COLUMNS.join(',')}\r\n`);
    const text = billingCsv(report('Acme', [row]));
    expect(text).toBe(
      `${BILLING_CSV_COLUMNS.join(',')}\r\norg-1,Acme,2026-11,2026-11-01T00:00:00.000Z,2026-12-01T00:00:00.000Z,AGENT_SEAT,CONCURRENT,25,5,7,28,3,0,0,2026-12,true\r\n`,
    );
  });

  it('[R-BILL-2] RFC 4180: commas, quotes and line breaks are quoted, quotes doubled; the text reads back unchanged', () => {
    const name = 'Müller, "Hotline"\r\nNord';
    const text = billingCsv(report(name, [row]));
    expect(text).toContain('"Müller, ""Hotline""\r\nNord"');
    expect((parse(text, { columns: true }) as Record<string, string>[])[0]?.organization_name).toBe(name);
  });

  it('[R-BILL-2] formula injection: a name starting with = + - @ (or a tab) is prefixed with an apostrophe; others are left alone', () => {
    for (const start of ['=', '+', '-', '@', '\t']) {
      const [record] = parse(billingCsv(report(`${start}SUM(A1:A9)`, [row])), { columns: true }) as Record<string, string>[];
      expect(record?.organization_name).toBe(`'${start}SUM(A1:A9)`);
    }
    const [plain] = parse(billingCsv(report('a=b', [row])), { columns: true }) as Record<string, string>[];
    expect(plain?.organization_name).toBe('a=b');
  });
});

describe('the cost of billing (R-SEC-3)', () => {
  it('[R-SEC-3] billing(month) is priced like usage(from, to) over a month: it reads as much of the series', async () => {
    const { parse: parseGraphQL } = await import('graphql');
    const { getSchema } = await import('../../src/schema/index.ts');
    const { operationCost } = await import('../../src/security/cost.ts');
    const schema = getSchema();
    const cost = (query: string) => operationCost(schema, parseGraphQL(query), null, {});
    const billing = cost('{ organization(id: "x") { billing(month: "2026-11") { activeUsers rows { peakConcurrent billableOverage } } } }');
    const usage = cost(
      '{ organization(id: "x") { usage(from: "2026-10-01T00:00:00Z", to: "2026-11-01T00:00:00Z") { peakConcurrent billableOverage } } }',
    );
    expect(billing).toBeGreaterThanOrEqual(usage);
    expect(billing).toBeGreaterThan(2000);
  });
});
