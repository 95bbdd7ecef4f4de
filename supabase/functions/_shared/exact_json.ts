// JSON with numbers kept to the digit. JSON.parse turns every number into a float, so
// "2852199.999999999999" would come back as 2852200; these helpers keep such a number as a
// raw JSON value (JSON.rawJSON, which JSON.stringify writes back verbatim) and leave every
// number a float reproduces exactly (counts, ids, 12500) as a plain number.

/** A number kept as its JSON source text. */
export interface RawJson {
  readonly rawJSON: string;
}

// Typed access to JSON.rawJSON / JSON.isRawJSON (V8, Deno and the Supabase edge runtime have
// them; TypeScript's lib does not describe them yet).
const json = JSON as unknown as {
  rawJSON(text: string): RawJson;
  isRawJSON(value: unknown): value is RawJson;
};

/** Whether a value is a number kept as its JSON source text. */
export function isRawJson(value: unknown): value is RawJson {
  return json.isRawJSON(value);
}

/** A JSON number's source text as a value JSON.stringify writes verbatim. */
export function rawJson(text: string): RawJson {
  return json.rawJSON(text);
}

// A number whose source text the float does not reproduce is kept as raw JSON.
function keepDigits(_key: string, value: unknown, context?: { source?: string }): unknown {
  if (typeof value !== "number") return value;
  const source = context?.source;
  return source === undefined || String(value) === source ? value : json.rawJSON(source);
}

/** JSON.parse, keeping every number's digits (see above). */
export function parseExact(text: string): unknown {
  return JSON.parse(text, keepDigits);
}
