/**
 * Catalog model: a vendor's product line as data (docs/rules.md, Catalogs). Presets live in
 * `presets/*.json` and are validated by `loader.ts` before use; the licensing
 * rules read these objects and never name a vendor's product in code.
 */
export const PRODUCT_KINDS = ['USER', 'SYSTEM', 'FEATURE', 'ADDON'] as const;
export type ProductKind = (typeof PRODUCT_KINDS)[number];

export const ALLOCATIONS = ['NAMED', 'CONCURRENT', 'FIXED_SEAT', 'ACCOUNT'] as const;
export type Allocation = (typeof ALLOCATIONS)[number];

export const REQUIREMENT_SCOPES = ['USER', 'ORGANIZATION'] as const;
export type RequirementScope = (typeof REQUIREMENT_SCOPES)[number];

export const EXHAUSTION_POLICIES = ['REFUSE', 'QUEUE'] as const;
export type WhenExhausted = (typeof EXHAUSTION_POLICIES)[number];

/** A prerequisite: one of `anyOf` must be held (USER) or bought `minQuantity` times (ORGANIZATION). */
export interface Requirement {
  scope: RequirementScope;
  anyOf: string[];
  /** Default 1. */
  minQuantity: number;
  /** Null: always required; otherwise the configuration-group option that switches it on. */
  condition: string | null;
}

/**
 * What one licence of a bundle brings along.
 * `coverage` says how far the inclusion reaches:
 * - ALWAYS: every holder of the bundle gets it (Office Plus → Office; Elite named → WFM).
 * - NAMED_ONLY: only when the bundle is allocated NAMED; on the CONCURRENT model the
 *   add-on must be bought for users beyond the bundle's seat count (R-ADDON-1: WFM, QM).
 */
export interface Inclusion {
  product: string;
  /** Licences of `product` that one licence of the bundle provides (default 1). */
  quantity: number;
  coverage: 'ALWAYS' | 'NAMED_ONLY';
  /**
   * True when the included licence counts in the included product's total
   * (R-BUNDLE-1: 100 OFFICE + 50 OFFICE_PLUS = 150 OFFICE). False for feature access
   * that is part of a tier (Zoom's channel matrix), which is not a countable licence.
   */
  countsTowardTotal: boolean;
}

/** A sizing recommendation that raises a warning when not met (XPhone: 1 IP channel per 25 users). */
/** The codes a sizing advisory may carry: a closed set, since they reach clients as the `WarningCode` enum. */
export const ADVISORY_CODES = ['CAPACITY_ADVISORY'] as const;
export type AdvisoryCode = (typeof ADVISORY_CODES)[number];

export interface Advisory {
  code: AdvisoryCode;
  /** One licence of this product is recommended per `perUsers` active users. */
  perUsers: number;
  message: string;
}

export interface Product {
  code: string;
  name: string;
  kind: ProductKind;
  allocation: Allocation;
  /** What one licence unlocks (CHANNEL, DATA_SOURCE, AA_CHANNEL …); null for plain seats. */
  unit: string | null;
  unitsPerLicense: number;
  /** Channel features: the channel this product licenses (VOICE, EMAIL, …). */
  channel: string | null;
  includes: Inclusion[];
  requirements: Requirement[];
  description: string | null;
  whenExhausted: WhenExhausted;
  /** Base licences (connect storm BASE): days before a licence may move to another user. */
  reassignCooldownDays: number | null;
  /** Whether overage is allowed by default (a key may override per entitlement). */
  overageAllowed: boolean;
  overageGraceMinutes: number;
  /** Whether emergency seats may be bought for this product. */
  emergencyAllowed: boolean;
  /** Whether a key may switch this product's allocation (Zoom tiers: NAMED or CONCURRENT). */
  allocationChoices: Allocation[];
  /** False for products that exist only as part of a bundle (Zoom tier features). */
  purchasable: boolean;
  advisories: Advisory[];
  /** Per-user settings the function owns, deleted when the function is removed (R-NAMED-4); listed by the catalog (R-CAT-3). */
  settings: ProductSetting[];
  /** Facts its holder must have besides licences (connect storm ADMINISTRATOR: a security key, R-2FA-2); empty for most. */
  holderRequires?: HolderFact[];
}

/** A personal setting a function owns (XPhone VOICEMAIL: `voicemailBox`), as `setUserSetting` names it (R-CAT-3). */
export interface ProductSetting {
  /** The name `setUserSetting(input: { name })` takes, unique within the product. */
  name: string;
  /** What the setting holds, for the administrator who sets it. */
  description: string;
}

/** A recorded fact about a user that a licence may need (licensing/holder-facts.ts). */
export type HolderFact = 'SECURITY_KEY';
export const HOLDER_FACTS: readonly HolderFact[] = ['SECURITY_KEY'];

export interface Catalog {
  code: string;
  name: string;
  vendor: string;
  /** Users one installation may hold at most; null = no limit. */
  maxUsers: number | null;
  /** Options a configuration group may set (switch conditional requirements). */
  options: string[];
  /**
   * The user licence that gives team analytics (XPhone: TEAMDESK, R-ANALYTICS-1);
   * null when the catalog has no team analytics.
   */
  teamAnalyticsProduct: string | null;
  products: Product[];
}
