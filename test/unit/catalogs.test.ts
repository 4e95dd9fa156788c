import { describe, it, expect } from 'vitest';
import {
  CatalogError,
  channelProducts,
  getCatalog,
  listCatalogs,
  parseCatalog,
  productOf,
  type Catalog,
} from '../../src/catalogs/index.ts';
import { concurrentSeatProducts } from '../../src/licensing/seats.ts';

function catalog(code: string): Catalog {
  const found = getCatalog(code);
  if (!found) throw new Error(`preset ${code} missing`);
  return found;
}

const xphone = catalog('xphone-connect');
const zoom = catalog('zoom-contact-center');
const storm = catalog('connect-storm');

describe('preset catalogs', () => {
  it('[R-CAT-1] the four presets load and are listed by code', () => {
    expect(listCatalogs().map((c) => c.code)).toEqual(['connect-storm', 'innoacd', 'xphone-connect', 'zoom-contact-center']);
    expect(getCatalog('nope')).toBeNull();
    expect(() => productOf(xphone, 'NOPE')).toThrow(/xphone-connect: no product NOPE/);
  });

  it('[R-CONC-1] innoACD has one concurrent agent licence and no user limit', () => {
    const innoacd = catalog('innoacd');
    expect(innoacd.maxUsers).toBeNull();
    expect(concurrentSeatProducts(innoacd, []).map((p) => p.code)).toEqual(['ACD_AGENT']);
    expect(productOf(innoacd, 'ACD_AGENT')).toMatchObject({ kind: 'USER', emergencyAllowed: false });
  });

  it('[R-TEN-3] XPhone Connect holds at most 5000 users', () => {
    expect(xphone.maxUsers).toBe(5000);
    expect(xphone.options).toEqual(['client', 'mobileApp', 'smsNotification']);
  });

  it('[R-BUNDLE-1] each OFFICE_PLUS includes one OFFICE that counts toward the OFFICE total', () => {
    expect(productOf(xphone, 'OFFICE_PLUS').includes).toEqual([
      { product: 'OFFICE', quantity: 1, coverage: 'ALWAYS', countsTowardTotal: true },
    ]);
  });

  it('XPhone system licences carry their units, SERVER prerequisite and the IP channel advisory', () => {
    expect(productOf(xphone, 'SERVER')).toMatchObject({ kind: 'SYSTEM', allocation: 'ACCOUNT', unit: 'DATA_SOURCE', unitsPerLicense: 10 });
    expect(productOf(xphone, 'ADDITIONAL_DATABASES')).toMatchObject({ unit: 'DATA_SOURCE', unitsPerLicense: 10 });
    expect(productOf(xphone, 'AUTO_ATTENDANT')).toMatchObject({ unit: 'AA_CHANNEL', unitsPerLicense: 20 });
    expect(productOf(xphone, 'AUTO_ATTENDANT').requirements).toContainEqual({
      scope: 'ORGANIZATION',
      anyOf: ['IP_CHANNEL'],
      minQuantity: 2,
      condition: null,
    });
    expect(productOf(xphone, 'IP_CHANNEL')).toMatchObject({
      unit: 'CHANNEL',
      unitsPerLicense: 1,
      advisories: [{ code: 'CAPACITY_ADVISORY', perUsers: 25 }],
    });
    for (const product of xphone.products.filter((p) => p.code !== 'SERVER')) {
      expect(product.requirements, product.code).toContainEqual({
        scope: 'ORGANIZATION',
        anyOf: ['SERVER'],
        minQuantity: 1,
        condition: null,
      });
    }
  });

  it('[R-NAMED-3] VOICEMAIL needs 2 IP channels and, per option, OFFICE or OFFICE_PLUS on the user', () => {
    expect(productOf(xphone, 'VOICEMAIL').requirements).toEqual([
      { scope: 'ORGANIZATION', anyOf: ['SERVER'], minQuantity: 1, condition: null },
      { scope: 'ORGANIZATION', anyOf: ['IP_CHANNEL'], minQuantity: 2, condition: null },
      { scope: 'USER', anyOf: ['OFFICE', 'OFFICE_PLUS'], minQuantity: 1, condition: 'client' },
      { scope: 'USER', anyOf: ['OFFICE_PLUS'], minQuantity: 1, condition: 'mobileApp' },
      { scope: 'USER', anyOf: ['OFFICE'], minQuantity: 1, condition: 'smsNotification' },
    ]);
    expect(productOf(xphone, 'TEAMDESK').requirements).toContainEqual({
      scope: 'USER',
      anyOf: ['OFFICE_PLUS'],
      minQuantity: 1,
      condition: null,
    });
    expect(productOf(xphone, 'DASHBOARD').requirements).toContainEqual({
      scope: 'USER',
      anyOf: ['CONTACTS'],
      minQuantity: 1,
      condition: null,
    });
  });

  it('[R-UNDER-1] XPhone user licences are NAMED and queue when exhausted', () => {
    const users = xphone.products.filter((p) => p.kind === 'USER');
    expect(users.map((p) => p.code)).toEqual([
      'OFFICE',
      'OFFICE_PLUS',
      'TEAMDESK',
      'VOICEMAIL',
      'FAX',
      'TAPI_LINE',
      'CONTACTS',
      'DASHBOARD',
    ]);
    expect(users.every((p) => p.allocation === 'NAMED' && p.whenExhausted === 'QUEUE')).toBe(true);
  });

  it('[R-NAMED-4] voicemail and fax own personal settings', () => {
    expect(productOf(xphone, 'VOICEMAIL').settings.map((s) => s.name)).toContain('voicemailBox');
    expect(productOf(xphone, 'FAX').settings.map((s) => s.name)).toContain('faxReception');
  });

  it('[R-NAMED-2] Zoom tiers refuse beyond the bought count and may be NAMED or CONCURRENT', () => {
    for (const code of ['ESSENTIALS', 'PREMIUM', 'ELITE']) {
      expect(productOf(zoom, code), code).toMatchObject({
        kind: 'USER',
        allocation: 'NAMED',
        allocationChoices: ['NAMED', 'CONCURRENT'],
        whenExhausted: 'REFUSE',
        overageAllowed: true,
        overageGraceMinutes: 30,
      });
    }
  });

  it('Zoom feature matrix: PREMIUM and ELITE add e-mail, social, dialer and cobrowse to what ESSENTIALS has', () => {
    const features = (tier: string) => productOf(zoom, tier).includes.filter((i) => productOf(zoom, i.product).kind === 'FEATURE');
    const essentials = features('ESSENTIALS').map((i) => i.product);
    const extra = ['EMAIL', 'SOCIAL_MESSAGING', 'OUTBOUND_DIALER', 'COBROWSE'];
    expect(essentials).toHaveLength(14);
    expect(essentials).not.toContain('EMAIL');
    expect(features('PREMIUM').map((i) => i.product)).toEqual([...essentials, ...extra]);
    expect(features('ELITE').map((i) => i.product)).toEqual([...essentials, ...extra]);
    for (const tier of ['ESSENTIALS', 'PREMIUM', 'ELITE']) {
      expect(features(tier).every((i) => i.coverage === 'ALWAYS' && !i.countsTowardTotal)).toBe(true);
    }
    expect(zoom.products.filter((p) => p.kind === 'FEATURE').every((p) => !p.purchasable)).toBe(true);
    expect(channelProducts(zoom).map((p) => p.channel)).toEqual(['VOICE', 'VIDEO', 'CHAT', 'SMS', 'EMAIL', 'SOCIAL']);
  });

  it('[R-ADDON-1] Elite covers AI Expert Assist always, WFM and QM only when named', () => {
    const coverage = Object.fromEntries(
      productOf(zoom, 'ELITE')
        .includes.filter((i) => productOf(zoom, i.product).kind === 'ADDON')
        .map((i) => [i.product, i.coverage]),
    );
    expect(coverage).toEqual({ AI_EXPERT_ASSIST: 'ALWAYS', QUALITY_MANAGEMENT: 'NAMED_ONLY', WORKFORCE_MANAGEMENT: 'NAMED_ONLY' });
    expect(productOf(zoom, 'WORKFORCE_MANAGEMENT').requirements).toEqual([
      { scope: 'USER', anyOf: ['ESSENTIALS', 'PREMIUM', 'ELITE'], minQuantity: 1, condition: null },
    ]);
    const accountWide = zoom.products.filter((p) => p.allocation === 'ACCOUNT').map((p) => p.code);
    expect(accountWide).toEqual(['VIRTUAL_AGENT', 'TOLL_FREE_NUMBERS', 'CLOUD_STORAGE', 'GLOBAL_NUMBERS']);
  });

  it('[R-REASSIGN-1] connect storm BASE is named, refuses when exhausted and cools down 90 days', () => {
    expect(productOf(storm, 'BASE')).toMatchObject({
      kind: 'USER',
      allocation: 'NAMED',
      whenExhausted: 'REFUSE',
      reassignCooldownDays: 90,
    });
  });

  it('[R-EMER-1] connect storm seats are concurrent, need BASE and allow emergency seats', () => {
    expect(concurrentSeatProducts(storm, []).map((p) => p.code)).toEqual(['AGENT_SEAT', 'SUPERVISOR_SEAT']);
    for (const seat of concurrentSeatProducts(storm, [])) {
      expect(seat.emergencyAllowed).toBe(true);
      expect(seat.requirements).toEqual([{ scope: 'USER', anyOf: ['BASE'], minQuantity: 1, condition: null }]);
    }
  });

  it('[R-CHAN-1] connect storm channel features are concurrent pools', () => {
    expect(channelProducts(storm).map((p) => [p.code, p.channel, p.allocation])).toEqual([
      ['VOICE', 'VOICE', 'CONCURRENT'],
      ['EMAIL', 'EMAIL', 'CONCURRENT'],
      ['WEBCHAT', 'WEBCHAT', 'CONCURRENT'],
      ['SMS', 'SMS', 'CONCURRENT'],
    ]);
  });

  it('[R-FIX-1] connect storm fixed-seat products', () => {
    const fixed = storm.products.filter((p) => p.allocation === 'FIXED_SEAT').map((p) => [p.code, p.kind]);
    expect(fixed).toEqual([
      ['ADMINISTRATOR', 'USER'],
      ['UC_USER', 'USER'],
      ['VIEW', 'USER'],
      ['RECORDER', 'USER'],
      ['PADLOCK', 'FEATURE'],
      ['CTI_INTEGRATION', 'FEATURE'],
    ]);
  });

  it('presets are shared and frozen', () => {
    expect(getCatalog('innoacd')).toBe(getCatalog('innoacd'));
    expect(Object.isFrozen(productOf(xphone, 'OFFICE').requirements[0])).toBe(true);
  });
});

describe('[R-CAT-2] broken catalogs are refused, naming the product', () => {
  /** A small valid catalog; each case breaks one thing in it. */
  const base = (): Record<string, unknown> & { products: Record<string, unknown>[] } => ({
    code: 'test',
    name: 'Test',
    vendor: 'Test',
    options: ['client'],
    products: [
      { code: 'A', name: 'A', kind: 'USER', allocation: 'NAMED' },
      {
        code: 'B',
        name: 'B',
        kind: 'USER',
        allocation: 'NAMED',
        includes: [{ product: 'A' }],
        requirements: [{ scope: 'USER', anyOf: ['A'] }],
      },
    ],
  });
  const refuse = (change: (raw: ReturnType<typeof base>) => void) => {
    const raw = base();
    change(raw);
    return () => parseCatalog(raw, 'test.json');
  };

  it('fills defaults in a valid catalog', () => {
    const parsed = parseCatalog(base(), 'test.json');
    expect(parsed.maxUsers).toBeNull();
    expect(productOf(parsed, 'B')).toMatchObject({
      unitsPerLicense: 1,
      whenExhausted: 'REFUSE',
      allocationChoices: ['NAMED'],
      purchasable: true,
      includes: [{ product: 'A', quantity: 1, coverage: 'ALWAYS', countsTowardTotal: false }],
      requirements: [{ scope: 'USER', anyOf: ['A'], minQuantity: 1, condition: null }],
    });
  });

  it('[R-CAT-2] unknown product in includes', () => {
    const broken = refuse((c) => (c.products[1]!.includes = [{ product: 'OFFYCE' }]));
    expect(broken).toThrow(CatalogError);
    expect(broken).toThrow('catalog test: product B includes unknown product OFFYCE');
  });

  it('[R-CAT-2] unknown product in requirements', () => {
    expect(refuse((c) => (c.products[1]!.requirements = [{ scope: 'USER', anyOf: ['A', 'ZZ'] }]))).toThrow(
      'catalog test: product B requires unknown product ZZ',
    );
  });

  it('[R-CAT-2] a cycle of requirements A → B → A', () => {
    expect(refuse((c) => (c.products[0]!.requirements = [{ scope: 'USER', anyOf: ['B'] }]))).toThrow(
      'catalog test: products A → B → A form a cycle of requirements',
    );
  });

  it('[R-CAT-2] a cycle of includes', () => {
    expect(refuse((c) => (c.products[0]!.includes = [{ product: 'B' }]))).toThrow(/products A → B → A form a cycle of includes/);
  });

  it('[R-CAT-2] negative or non-integer numbers', () => {
    expect(refuse((c) => (c.products[0]!.unitsPerLicense = -10))).toThrow(
      'catalog test: product A: unitsPerLicense must be an integer >= 1, got -10',
    );
    expect(refuse((c) => (c.products[1]!.includes = [{ product: 'A', quantity: 1.5 }]))).toThrow(
      'product B: includes[0]: quantity must be an integer >= 1, got 1.5',
    );
    expect(refuse((c) => (c.products[0]!.reassignCooldownDays = -1))).toThrow(/product A: reassignCooldownDays/);
  });

  it('[R-CAT-2] a duplicate product code', () => {
    expect(refuse((c) => (c.products[1]!.code = 'A'))).toThrow('catalog test: product A is defined twice');
  });

  it('[R-CAT-2] a condition that is not one of the catalog options', () => {
    expect(refuse((c) => (c.products[1]!.requirements = [{ scope: 'USER', anyOf: ['A'], condition: 'mobilApp' }]))).toThrow(
      /product B has a requirement on condition "mobilApp", which is not one of the catalog's options \[client\]/,
    );
  });

  it('[R-CAT-2] unknown fields, kinds and scopes, and allocation choices without the default', () => {
    expect(refuse((c) => (c.products[0]!.unitPerLicense = 2))).toThrow('product A: unknown field unitPerLicense');
    expect(refuse((c) => (c.products[0]!.kind = 'SEAT'))).toThrow(
      'product A: kind must be one of USER, SYSTEM, FEATURE, ADDON, got "SEAT"',
    );
    expect(refuse((c) => (c.products[1]!.requirements = [{ scope: 'TEAM', anyOf: ['A'] }]))).toThrow('product B: requirements[0]: scope');
    expect(refuse((c) => (c.products[0]!.allocationChoices = ['CONCURRENT']))).toThrow(
      'product A: allocationChoices [CONCURRENT] do not contain its allocation NAMED',
    );
    expect(() => parseCatalog([], 'x.json')).toThrow('catalog x.json: must be an object');
  });

  it('[R-CAT-2] an advisory code other than the WarningCode values it reaches clients as', () => {
    expect(refuse((c) => (c.products[0]!.advisories = [{ code: 'SIZING_HINT', perUsers: 25, message: 'One per 25.' }]))).toThrow(
      'product A: advisories[0]: code must be one of CAPACITY_ADVISORY, got "SIZING_HINT"',
    );
    expect(productOf(parseCatalog(base(), 'test.json'), 'A').advisories).toEqual([]);
  });
});
