import { z } from "zod/v4";
import { isRawJson } from "./exact_json.ts";

/** Longest accepted text field, in characters. */
const MAX_TEXT_LENGTH = 10_000;
/** Largest accepted money amount. */
const MAX_MONEY = "1000000000000";

type Check<T> = (value: unknown) => { value: T } | { error: string };

/** A JSON Schema (2020-12, as OpenAPI 3.1 uses it), as a plain object. */
export type JsonSchema = { [keyword: string]: unknown };

/**
 * What the OpenAPI document says about one field beyond its JSON Schema (which rides in the
 * field's zod metadata, so z.toJSONSchema writes it): the exact 400 messages its validation can
 * answer (`<i>` stands for an array index), a sample value, and how the server reads the value
 * beyond what the schema says, added to the field's description.
 */
export type FieldDoc = {
  errors: string[];
  example?: unknown;
  note?: string;
};

/** The FieldDoc of every field built here; a copy made by `.describe()` inherits its original's. */
export const fieldDocs = z.registry<FieldDoc>();

// Optional fields take null as absent (or, when nullable, as "clear"): the schema says so.
function orNull(schema: JsonSchema): JsonSchema {
  if (typeof schema.type === "string") return { ...schema, type: [schema.type, "null"] };
  if (Array.isArray(schema.type)) return { ...schema, type: [...schema.type, "null"] };
  if (Array.isArray(schema.anyOf)) return { ...schema, anyOf: [...schema.anyOf, { type: "null" }] };
  return schema;
}

/** How a field treats absence: required (absent or "" is an error), nullable (null is kept, to clear a value). */
export interface FieldOptions {
  required?: boolean;
  /** The message for a missing required field; default "<name> required". */
  requiredMessage?: string;
  nullable?: boolean;
}

/** What a field builder documents: the JSON Schema of a value sent, and its FieldDoc. */
interface FieldDescription extends Partial<FieldDoc> {
  schema: JsonSchema;
}

// One field: absent (undefined or null) is allowed unless required; a required field that
// is absent or "" gets its required message; anything else must pass `check`, whose error
// message names the field. The output is the normalised value, null for a nullable field
// sent as null, or undefined when absent. The zod schema is a transform of any value (the
// checks and normalisation are one function), so its JSON Schema is given as metadata; an
// optional field is zod-optional, which z.toJSONSchema reads as not required. A failed field
// stops the parse there: a rule across fields (superRefine) only judges valid fields.
function field<T>(name: string, options: FieldOptions, check: Check<T>, doc: FieldDescription) {
  const required = options.required ?? false;
  const requiredMessage = options.requiredMessage ?? `${name} required`;
  const base = z.unknown().transform((value, ctx): T | null | undefined => {
    if (options.nullable && value === null) return null;
    if (value === undefined || value === null || (required && value === "")) {
      if (!required) return undefined;
      ctx.addIssue({ code: "custom", message: requiredMessage, continue: false });
      return z.NEVER;
    }
    const result = check(value);
    if ("error" in result) {
      ctx.addIssue({ code: "custom", message: result.error, continue: false });
      return z.NEVER;
    }
    return result.value;
  }).meta((required ? doc.schema : orNull(doc.schema)) as z.GlobalMeta);
  const built = required ? base : base.optional();
  fieldDocs.add(built, {
    errors: [...(required ? [requiredMessage] : []), ...(doc.errors ?? [])],
    example: doc.example,
    note: doc.note,
  });
  return built;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const UUID_SCHEMA: JsonSchema = {
  type: "string",
  format: "uuid",
  pattern: "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
};
const EXAMPLE_UUID = "5f0c2e7a-3b1d-4c8e-9a6f-2d4b8e1c7a93";

function checkUuid(name: string): Check<string> {
  return (value) =>
    typeof value === "string" && UUID.test(value)
      ? { value: value.toLowerCase() }
      : { error: `${name} must be a UUID` };
}

/** A canonical UUID string, returned lower-case. */
export function uuid(name: string, options: FieldOptions = {}) {
  return field(name, options, checkUuid(name), {
    schema: UUID_SCHEMA,
    errors: [`${name} must be a UUID`],
    example: EXAMPLE_UUID,
  }).describe("UUID");
}

/**
 * An array of at most `max` UUIDs, returned lower-case without duplicates: sorted (a set, so
 * the order never changes a request's fingerprint), or in the order sent with `ordered` (where
 * an answer names the first offending id). A required array must not be empty.
 */
export function uuidArray(name: string, max: number, options: FieldOptions & { ordered?: boolean } = {}) {
  const element = checkUuid(name);
  return field(name, options, (value) => {
    if (!Array.isArray(value)) return { error: `${name} must be an array of UUIDs` };
    if (options.required && value.length === 0) return { error: options.requiredMessage ?? `${name} required` };
    if (value.length > max) return { error: `${name} must have at most ${max} entries` };
    const ids: string[] = [];
    for (const item of value) {
      const result = element(item);
      if ("error" in result) return { error: `${name} must be an array of UUIDs` };
      ids.push(result.value);
    }
    const unique = [...new Set(ids)];
    return { value: options.ordered ? unique : unique.sort() };
  }, {
    schema: { type: "array", items: UUID_SCHEMA, ...(options.required ? { minItems: 1 } : {}), maxItems: max },
    errors: [`${name} must be an array of UUIDs`, `${name} must have at most ${max} entries`],
    example: [EXAMPLE_UUID],
    note: "Duplicates are ignored",
  }).describe(`Array of ${options.required ? "1 to" : "at most"} ${max} UUIDs`);
}

/**
 * The rows of a batch (import_purchases): an array of 1 to `max` items, each validated on its own by `row`, so one
 * row's error never refuses the batch: a valid row becomes its parsed value, any other `{invalid: <the message the
 * row's own request would get>}`, which the SQL function answers as that row's error.
 */
export function rows(name: string, max: number, row: z.ZodType<Record<string, unknown>>) {
  const notObject = `${name}[<i>] must be an object`;
  const items = z.toJSONSchema(row, { io: "input" }) as JsonSchema;
  delete items.$schema;
  return field(name, { required: true }, (value) => {
    if (!Array.isArray(value)) return { error: `${name} must be an array` };
    if (value.length === 0) return { error: `${name} must have at least 1 item` };
    if (value.length > max) return { error: `${name} must have at most ${max} items` };
    return {
      value: value.map((item, i) => {
        if (typeof item !== "object" || item === null || Array.isArray(item) || isRawJson(item)) {
          return { invalid: notObject.replace("<i>", String(i)) };
        }
        const parsed = row.safeParse(item);
        return parsed.success ? parsed.data : { invalid: parsed.error.issues[0].message };
      }),
    };
  }, {
    schema: { type: "array", minItems: 1, maxItems: max, items },
    errors: [`${name} must be an array`, `${name} must have at least 1 item`, `${name} must have at most ${max} items`],
    note: `A row that fails validation is answered as that row's error (with its message, or ${notObject}); ` +
      "the other rows are recorded",
  }).describe(`Array of 1 to ${max} rows, each validated and recorded on its own`);
}

/** A currency: an ISO 4217 code, three capital letters. */
export function currencyCode(name: string) {
  return field(
    name,
    {},
    (value) =>
      typeof value === "string" && /^[A-Z]{3}$/.test(value)
        ? { value }
        : { error: `${name} must be an ISO 4217 currency code` },
    {
      schema: { type: "string", pattern: "^[A-Z]{3}$" },
      errors: [`${name} must be an ISO 4217 currency code`],
      example: "USD",
    },
  ).describe("ISO 4217 currency code, e.g. USD");
}

// Text as Postgres and JSON carry it: no NUL, no unpaired surrogate (a JSON Schema pattern is
// matched per code point, where an unpaired surrogate is one of U+D800-U+DFFF).
const TEXT_PATTERN = "^[^\\u0000\\uD800-\\uDFFF]*$";

function textErrors(name: string): string[] {
  return [
    `${name} must be a string`,
    `${name} contains invalid characters`,
    `${name} must be at most ${MAX_TEXT_LENGTH} characters`,
  ];
}

function checkText(name: string): Check<string> {
  return (value) => {
    if (typeof value !== "string") return { error: `${name} must be a string` };
    // Postgres text cannot hold NUL, and JSON cannot carry an unpaired surrogate.
    if (value.includes("\0") || !value.isWellFormed()) return { error: `${name} contains invalid characters` };
    if ([...value].length > MAX_TEXT_LENGTH) {
      return { error: `${name} must be at most ${MAX_TEXT_LENGTH} characters` };
    }
    return { value };
  };
}

/** A text field of at most MAX_TEXT_LENGTH characters, stored as sent. */
export function text(name: string, options: FieldOptions = {}) {
  return field(name, options, checkText(name), {
    schema: {
      type: "string",
      ...(options.required ? { minLength: 1 } : {}),
      maxLength: MAX_TEXT_LENGTH,
      pattern: TEXT_PATTERN,
    },
    errors: textErrors(name),
  }).describe(`Text, at most ${MAX_TEXT_LENGTH} characters`);
}

/** Longest accepted external id, in characters. */
const MAX_EXTERNAL_ID_LENGTH = 255;

/**
 * An id in the caller's own system (an order, invoice or refund id): 1 to 255 printable characters (no control
 * character, no unpaired surrogate), stored as sent.
 */
export function externalId(name: string, options: FieldOptions = {}) {
  const error = `${name} must be 1 to ${MAX_EXTERNAL_ID_LENGTH} printable characters`;
  return field(name, options, (value) => {
    if (typeof value !== "string" || !value.isWellFormed() || /\p{Cc}/u.test(value)) return { error };
    const length = [...value].length;
    return length >= 1 && length <= MAX_EXTERNAL_ID_LENGTH ? { value } : { error };
  }, {
    schema: {
      type: "string",
      minLength: 1,
      maxLength: MAX_EXTERNAL_ID_LENGTH,
      pattern: "^[^\\u0000-\\u001F\\u007F-\\u009F\\uD800-\\uDFFF]*$",
    },
    errors: [error],
    example: "order-10045",
  }).describe(`1 to ${MAX_EXTERNAL_ID_LENGTH} printable characters`);
}

/**
 * A Stripe webhook signing secret: `whsec_` and 1 to 250 letters, digits, `+`, `/`, `=`, `_` or `-`.
 */
export function signingSecret(name: string, options: FieldOptions = {}) {
  const error = `${name} must be a Stripe webhook signing secret (whsec_…)`;
  return field(
    name,
    options,
    (value) => typeof value === "string" && /^whsec_[A-Za-z0-9+/=_-]{1,250}$/.test(value) ? { value } : { error },
    {
      schema: { type: "string", pattern: "^whsec_[A-Za-z0-9+/=_-]{1,250}$" },
      errors: [error],
      example: "whsec_Jx1Qk9Zp4Lm2Vb7Nc8Rt3Ys6Wd5Fg0Hh",
    },
  ).describe("Stripe's webhook signing secret of the endpoint");
}

/**
 * A lead's text field: like text, but a JSON number (integrators send numeric CRM ids and phone
 * numbers) is stored as its JSON text as sent (`4915112345678`, `1.50`).
 */
export function leadText(name: string, options: FieldOptions = {}) {
  const check = checkText(name);
  return field(
    name,
    options,
    (value) => check(typeof value === "number" || isRawJson(value) ? jsonText(value) : value),
    {
      schema: { type: ["string", "number"], maxLength: MAX_TEXT_LENGTH, pattern: TEXT_PATTERN },
      errors: textErrors(name),
      note: "A JSON number is stored as its JSON text, as sent",
    },
  )
    .describe(`Text (or a JSON number, stored as its text), at most ${MAX_TEXT_LENGTH} characters`);
}

// The strings of digits integer() takes for min (0 or 1) to max, as a JSON Schema pattern: at
// most 16 characters, leading zeros allowed, the value in range (so "101" is refused for limit,
// as the server refuses it). One alternative per count of significant digits, the longest
// compared with max digit by digit.
function integerStringPattern(min: number, max: number): string {
  if (min !== 0 && min !== 1) throw new Error("integerStringPattern: min must be 0 or 1");
  const top = String(max);
  const alternatives = min === 0 ? ["0{1,16}"] : [];
  for (let n = 1; n < top.length; n++) alternatives.push(`0{0,${16 - n}}[1-9][0-9]{${n - 1}}`);
  const atMostTop: string[] = [];
  for (let i = 0; i < top.length; i++) {
    const low = i === 0 ? 1 : 0;
    const digit = Number(top[i]);
    if (digit > low) atMostTop.push(`${top.slice(0, i)}[${low}-${digit - 1}][0-9]{${top.length - i - 1}}`);
  }
  alternatives.push(`0{0,${16 - top.length}}(?:${[...atMostTop, top].join("|")})`);
  return `^(?:${alternatives.join("|")})$`;
}

/** An integer between min (0 or 1) and max, from a JSON number or a string of digits. */
export function integer(name: string, min: number, max: number, options: FieldOptions = {}) {
  const error = `${name} must be an integer between ${min} and ${max}`;
  return field(name, options, (value) => {
    const n = (typeof value === "string" && /^\d{1,16}$/.test(value)) || isRawJson(value)
      ? Number(jsonText(value))
      : value;
    if (typeof n !== "number" || !Number.isSafeInteger(n) || n < min || n > max) return { error };
    return { value: n };
  }, {
    schema: {
      anyOf: [{ type: "integer", minimum: min, maximum: max }, {
        type: "string",
        pattern: integerStringPattern(min, max),
      }],
    },
    errors: [error],
    example: min,
  }).describe(`Integer, ${min} to ${max}`);
}

// A property value as stored: text as sent, numbers and booleans as their JSON text,
// objects and arrays JSON-encoded.
function propertyValue(value: unknown): string {
  return typeof value === "string" ? value : JSON.stringify(value);
}

/**
 * Lead properties: at most `max` entries of {property_definitions_id: uuid, value: any but
 * null}, returned with values as text, one entry per definition (the last one wins), sorted
 * by definition.
 */
export function properties(name: string, max: number) {
  return field(name, {}, (value) => {
    if (!Array.isArray(value)) return { error: `${name} must be an array` };
    if (value.length > max) return { error: `${name} must have at most ${max} entries` };
    const byDefinition = new Map<string, { property_definitions_id: string; value: string }>();
    for (const [i, entry] of value.entries()) {
      const item = `${name}[${i}]`;
      if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
        return { error: `${item} must be an object` };
      }
      const id = checkUuid(`${item}.property_definitions_id`)(entry.property_definitions_id);
      if ("error" in id) return id;
      if (entry.value === undefined || entry.value === null) return { error: `${item}.value required` };
      const text = checkText(`${item}.value`)(propertyValue(entry.value));
      if ("error" in text) return text;
      byDefinition.delete(id.value);
      byDefinition.set(id.value, { property_definitions_id: id.value, value: text.value });
    }
    const entries = [...byDefinition.values()];
    return { value: entries.sort((a, b) => a.property_definitions_id < b.property_definitions_id ? -1 : 1) };
  }, {
    schema: {
      type: "array",
      maxItems: max,
      items: {
        type: "object",
        required: ["property_definitions_id", "value"],
        properties: {
          property_definitions_id: UUID_SCHEMA,
          value: {
            type: ["string", "number", "boolean", "object", "array"],
            items: {},
            description: "Stored as text: numbers and booleans as their JSON text, objects and arrays JSON-encoded. " +
              "A property of type number takes only a JSON number or a string in JSON number form",
          },
        },
      },
    },
    errors: [
      `${name} must be an array`,
      `${name} must have at most ${max} entries`,
      `${name}[<i>] must be an object`,
      `${name}[<i>].property_definitions_id must be a UUID`,
      `${name}[<i>].value required`,
      ...textErrors(`${name}[<i>].value`).slice(1),
    ],
  }).describe(`At most ${max} {property_definitions_id, value}; values are stored as text`);
}

const DECIMAL = /^(\d{1,16})(?:\.(\d{1,40}))?$/;
// The decimal strings money takes: what DECIMAL admits with at most 12 decimals that are not
// trailing zeros, and at most 10^12.
const MONEY_STRING = "^(?:0{0,4}[0-9]{1,12}(?:\\.(?=[0-9]{1,40}$)[0-9]{0,12}0*)?|0{0,3}1000000000000(?:\\.0{1,40})?)$";
const JSON_NUMBER = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/;

/** The JSON text of a number as the client wrote it (see exact_json.ts), or a string as is. */
function jsonText(value: unknown): string {
  return isRawJson(value) ? value.rawJSON : String(value);
}

// A JSON number's text in any valid form (`12500`, `1.5e3`, `1.00000000000000001e11`) as digits
// before and after the point, by shifting the point on the digits: no float ever touches the
// amount. Null when negative, or when the exponent puts a non-zero digit more than 40 places
// from the point either way (far outside the money range, so no huge strings are built).
function jsonNumberToDecimal(text: string): { whole: string; fraction: string } | null {
  const m = JSON_NUMBER.exec(text);
  if (!m) return null;
  const [, sign, whole, fraction = "", exponent = "0"] = m;
  const digits = (whole + fraction).replace(/^0+/, "");
  if (!digits) return { whole: "0", fraction: "" };
  if (sign) return null;
  const point = whole.length + Number(exponent) - (whole + fraction).length + digits.length;
  // Far outside the range either way: a stand-in with the same verdict, without huge strings.
  if (point > 40) return { whole: "1" + "0".repeat(40), fraction: "" };
  if (point < -40) return { whole: "0", fraction: "0".repeat(40) + "1" };
  if (point <= 0) return { whole: "0", fraction: "0".repeat(-point) + digits };
  if (point >= digits.length) return { whole: digits + "0".repeat(point - digits.length), fraction: "" };
  return { whole: digits.slice(0, point), fraction: digits.slice(point) };
}

// Writes a decimal given as digits before and after the point in canonical form: no leading
// zeros, no trailing fractional zeros ("0012.50" → "12.5"), so equal amounts are equal strings.
function canonicalDecimal(whole: string, fraction: string): string {
  const w = whole.replace(/^0+(?=\d)/, "");
  const f = fraction.replace(/0+$/, "");
  return f ? `${w}.${f}` : w;
}

// Compares a canonical decimal with MAX_MONEY without converting it to a float.
function exceedsMaxMoney(decimal: string): boolean {
  const [whole, fraction = ""] = decimal.split(".");
  if (whole.length !== MAX_MONEY.length) return whole.length > MAX_MONEY.length;
  return whole > MAX_MONEY || (whole === MAX_MONEY && fraction !== "");
}

/**
 * Money: a JSON number in any valid form, or a decimal string; 0 ≤ x ≤ 10^12, at most 12
 * decimals. Returned as a canonical decimal string for Postgres `numeric`, so no float
 * arithmetic ever touches the amount and equal amounts are equal strings. A JSON number a
 * float cannot reproduce arrives here as its source text (see parseExact in exact_json.ts), so
 * `2852199.999999999999` is taken to the last digit; `1e400` is refused as out of range.
 */
export function money(name: string) {
  const invalid = { error: `${name} must be a non-negative number` };
  return field(name, {}, (value) => {
    let parts: { whole: string; fraction: string } | null;
    if (typeof value === "number" || isRawJson(value)) {
      if (typeof value === "number" && !Number.isFinite(value)) return invalid;
      parts = jsonNumberToDecimal(jsonText(value));
    } else {
      const m = typeof value === "string" ? DECIMAL.exec(value) : null;
      parts = m && { whole: m[1], fraction: m[2] ?? "" };
    }
    if (!parts) return invalid;
    if (parts.fraction.replace(/0+$/, "").length > 12) {
      return { error: `${name} must have at most 12 decimal places` };
    }
    const decimal = canonicalDecimal(parts.whole, parts.fraction);
    if (exceedsMaxMoney(decimal)) return { error: `${name} must be at most ${MAX_MONEY}` };
    return { value: decimal };
  }, {
    // A JSON number's decimals are not counted by the schema: a float has no exact decimal
    // digits to count (multipleOf 1e-12 would refuse 0.1); the server checks them exactly. What
    // the schema can say: no number strictly between 0 and 10^-12, which all have more than 12.
    schema: {
      anyOf: [
        {
          type: "number",
          minimum: 0,
          maximum: Number(MAX_MONEY),
          not: { exclusiveMinimum: 0, exclusiveMaximum: 1e-12 },
        },
        { type: "string", pattern: MONEY_STRING },
      ],
    },
    errors: [
      `${name} must be a non-negative number`,
      `${name} must have at most 12 decimal places`,
      `${name} must be at most ${MAX_MONEY}`,
    ],
    example: 12500,
    note: "At most 12 decimals; stored exactly, in any JSON number form (1.5e3) or as a decimal string " +
      "(from JavaScript, send a string: a number keeps about 15 significant digits)",
  }).describe("Amount: JSON number or decimal string, 0 to 10^12, at most 12 decimals");
}

// Date, or date and time with optional seconds, fraction (any number of digits: .NET writes
// 7, Java 9) and offset (Z, ±hh, ±hhmm, ±hh:mm); `T`/`Z` in either case.
const TIMESTAMP =
  /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?([Zz]|[+-](\d{2})(?::?(\d{2}))?)?)?$/;

// What TIMESTAMP and the checks of timestamp() accept, as far as a JSON Schema pattern can say:
// years 0001-9999, real months and days (February 29 only in leap years), hours 00-23, minutes
// and seconds 00-59, offsets up to ±15:59. Only an instant pushed outside the years 1-9999 by its
// offset (`0001-01-01T00:00+01:00`) passes the pattern and is refused by the server.
const TIMESTAMP_PATTERN = (() => {
  const year = "(?:000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3})";
  const monthDay = "(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])|(?:0[13-9]|1[0-2])-(?:29|30)|(?:0[13578]|1[02])-31)";
  const leapDay = "(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:0[48]|[2468][048]|[13579][26])00)-02-29";
  const time = "[Tt ](?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:\\.[0-9]{1,9})?)?" +
    "(?:[Zz]|[+-](?:0[0-9]|1[0-5])(?::?[0-5][0-9])?)?";
  return `^(?:${year}-${monthDay}|${leapDay})(?:${time})?$`;
})();

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/**
 * An ISO 8601 / RFC 3339 date or date-time as real clients write it (`2025-04-01`,
 * `2025-04-01T00:00:00Z`, `2025-04-01T00:00:00.000+02:00`, `…00.0000000Z`, `…+02`, `…t…z`);
 * no offset means UTC. Kept to the microsecond (further digits are cut, as Postgres keeps no
 * more) and returned in one canonical form, UTC with milliseconds plus any further sent digits,
 * so equal instants are equal strings: `2025-04-01T02:00:00+02:00` → `2025-04-01T00:00:00.000Z`.
 * The instant must fall within the years 1 to 9999 in UTC, after the offset is applied.
 */
export function timestamp(name: string) {
  const invalid = { error: `${name} must be an ISO 8601 timestamp` };
  return field(name, {}, (value) => {
    const m = typeof value === "string" ? TIMESTAMP.exec(value) : null;
    if (!m) return invalid;
    const [, y, mo, d, h = "00", mi = "00", s = "00", frac = "", zone, zh = "0", zm = "0"] = m;
    const year = Number(y), month = Number(mo), day = Number(d);
    const valid = year >= 1 && month >= 1 && month <= 12 && day >= 1 &&
      day <= daysInMonth(year, month) && Number(h) <= 23 && Number(mi) <= 59 &&
      Number(s) <= 59 && Number(zh) <= 15 && Number(zm) <= 59;
    if (!valid) return invalid;
    const offsetMinutes = (zone?.[0] === "-" ? -1 : 1) * (Number(zh) * 60 + Number(zm));
    // setUTCFullYear, unlike Date.UTC, takes years below 100 literally.
    const utc = new Date(0);
    utc.setUTCFullYear(year, month - 1, day);
    utc.setUTCHours(Number(h), Number(mi) - offsetMinutes, Number(s), 0);
    if (utc.getUTCFullYear() < 1 || utc.getUTCFullYear() > 9999) return invalid;
    const digits = frac.slice(1, 7).padEnd(3, "0");
    const micros = digits.slice(3).replace(/0+$/, "");
    return { value: `${utc.toISOString().slice(0, 20)}${digits.slice(0, 3)}${micros}Z` };
  }, {
    // No `format: date-time`: the server takes the forms real clients write (docs/guide.md, "Calling the API": a date
    // alone, no seconds, hour-only offsets, a space for T), which RFC 3339's date-time refuses, and
    // a validating proxy asserts the format. The decision: keep the server's accepted set (the
    // seed's forms must keep working) and describe exactly it with a pattern instead.
    schema: { type: "string", pattern: TIMESTAMP_PATTERN },
    errors: [invalid.error],
    example: "2025-04-01T00:00:00.000Z",
    note: "ISO 8601: a date, or a date-time with optional seconds, fraction and offset (Z, +02, +0200, +02:00); " +
      "no offset is UTC; kept to the microsecond",
  }).describe("ISO 8601 timestamp; returned as UTC with milliseconds");
}
