import { z } from "zod";

/** Longest accepted text field, in characters. */
export const MAX_TEXT_LENGTH = 10_000;
/** Largest accepted money amount. */
export const MAX_MONEY = "1000000000000";

type Check<T> = (value: unknown) => { value: T } | { error: string };

/** How a field treats absence: required (absent or "" is an error), nullable (null is kept, to clear a value). */
export interface FieldOptions {
  required?: boolean;
  /** The message for a missing required field; default "<name> required". */
  requiredMessage?: string;
  nullable?: boolean;
}

// One field: absent (undefined or null) is allowed unless required; a required field that
// is absent or "" gets its required message; anything else must pass `check`, whose error
// message names the field. The output is the normalised value, null for a nullable field
// sent as null, or undefined when absent.
function field<T>(name: string, options: FieldOptions, check: Check<T>) {
  return z.unknown().transform((value, ctx): T | null | undefined => {
    if (options.nullable && value === null) return null;
    const absent = value === undefined || value === null;
    if (absent || (options.required && value === "")) {
      if (!options.required) return undefined;
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: options.requiredMessage ?? `${name} required` });
      return z.NEVER;
    }
    const result = check(value);
    if ("error" in result) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: result.error });
      return z.NEVER;
    }
    return result.value;
  });
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function checkUuid(name: string): Check<string> {
  return (value) =>
    typeof value === "string" && UUID.test(value)
      ? { value: value.toLowerCase() }
      : { error: `${name} must be a UUID` };
}

/** A canonical UUID string, returned lower-case. */
export function uuid(name: string, options: FieldOptions = {}) {
  return field(name, options, checkUuid(name)).describe("UUID");
}

/** An array of at most `max` UUIDs, returned lower-case and without duplicates. */
export function uuidArray(name: string, max: number) {
  const element = checkUuid(name);
  return field(name, {}, (value) => {
    if (!Array.isArray(value)) return { error: `${name} must be an array of UUIDs` };
    if (value.length > max) return { error: `${name} must have at most ${max} entries` };
    const ids: string[] = [];
    for (const item of value) {
      const result = element(item);
      if ("error" in result) return { error: `${name} must be an array of UUIDs` };
      ids.push(result.value);
    }
    return { value: [...new Set(ids)] };
  }).describe(`Array of at most ${max} UUIDs`);
}

function checkText(name: string): Check<string> {
  return (value) => {
    if (typeof value !== "string") return { error: `${name} must be a string` };
    if ([...value].length > MAX_TEXT_LENGTH) {
      return { error: `${name} must be at most ${MAX_TEXT_LENGTH} characters` };
    }
    return { value };
  };
}

/** A text field of at most MAX_TEXT_LENGTH characters, stored as sent. */
export function text(name: string, options: FieldOptions = {}) {
  return field(name, options, checkText(name)).describe(`Text, at most ${MAX_TEXT_LENGTH} characters`);
}

/** An integer between min and max, from a JSON number or a string of digits. */
export function integer(name: string, min: number, max: number, options: FieldOptions = {}) {
  const error = `${name} must be an integer between ${min} and ${max}`;
  return field(name, options, (value) => {
    const n = typeof value === "string" && /^\d{1,16}$/.test(value) ? Number(value) : value;
    if (typeof n !== "number" || !Number.isSafeInteger(n) || n < min || n > max) return { error };
    return { value: n };
  }).describe(`Integer, ${min} to ${max}`);
}

// A property value as stored: text as sent, numbers and booleans as their JSON text,
// objects and arrays JSON-encoded.
function propertyValue(value: unknown): string {
  return typeof value === "string" ? value : JSON.stringify(value);
}

/**
 * Lead properties: at most `max` entries of {property_definitions_id: uuid, value: any but
 * null}, returned with values as text and one entry per definition (the last one wins).
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
    return { value: [...byDefinition.values()] };
  }).describe(`At most ${max} {property_definitions_id, value}; values are stored as text`);
}

const DECIMAL = /^\d+(\.\d+)?$/;

// Compares a plain decimal string with MAX_MONEY without converting it to a float.
function exceedsMaxMoney(decimal: string): boolean {
  const [whole, fraction = ""] = decimal.split(".");
  const digits = whole.replace(/^0+(?=\d)/, "");
  if (digits.length !== MAX_MONEY.length) return digits.length > MAX_MONEY.length;
  return digits > MAX_MONEY || (digits === MAX_MONEY && /[1-9]/.test(fraction));
}

/**
 * Money: a JSON number or a decimal string, finite, 0 ≤ x ≤ 10^12. Returned as a decimal
 * string for Postgres `numeric`, so no float arithmetic ever touches the amount: a JSON
 * number becomes its shortest round-trip text, which is the decimal the client wrote for
 * up to 15 significant digits.
 */
export function money(name: string) {
  const invalid = { error: `${name} must be a non-negative number` };
  return field(name, {}, (value) => {
    if (typeof value === "number") {
      if (!Number.isFinite(value) || value < 0) return invalid;
      if (value > Number(MAX_MONEY)) return { error: `${name} must be at most ${MAX_MONEY}` };
      return { value: String(value) };
    }
    if (typeof value !== "string" || !DECIMAL.test(value)) return invalid;
    if (exceedsMaxMoney(value)) return { error: `${name} must be at most ${MAX_MONEY}` };
    return { value };
  }).describe("Amount: JSON number or decimal string, 0 to 10^12");
}

const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d{1,6})?)?(Z|[+-](\d{2}):?(\d{2}))?)?$/;

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/**
 * An ISO 8601 date or date-time (`2025-04-01`, `2025-04-01T00:00:00Z`,
 * `2025-04-01T00:00:00.000+02:00`); no offset means UTC. Returned as an ISO string with an
 * explicit offset for Postgres `timestamptz`, keeping the sent precision.
 */
export function timestamp(name: string) {
  return field(name, {}, (value) => {
    const m = typeof value === "string" ? TIMESTAMP.exec(value) : null;
    if (!m) return { error: `${name} must be an ISO 8601 timestamp` };
    const [, y, mo, d, h = "00", mi = "00", s = "00", frac = "", zone, zh = "0", zm = "0"] = m;
    const year = Number(y), month = Number(mo), day = Number(d);
    const valid = year >= 1 && month >= 1 && month <= 12 && day >= 1 &&
      day <= daysInMonth(year, month) && Number(h) <= 23 && Number(mi) <= 59 &&
      Number(s) <= 59 && Number(zh) <= 15 && Number(zm) <= 59;
    if (!valid) return { error: `${name} must be an ISO 8601 timestamp` };
    const offset = !zone || zone === "Z" ? "Z" : `${zone[0]}${zh}:${zm}`;
    return { value: `${y}-${mo}-${d}T${h}:${mi}:${s}${frac}${offset}` };
  }).describe("ISO 8601 timestamp; returned as UTC with milliseconds");
}
