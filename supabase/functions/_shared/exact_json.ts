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

// A number whose source text the float does not reproduce is kept as raw JSON.
function keepDigits(_key: string, value: unknown, context?: { source?: string }): unknown {
  if (typeof value !== "number") return value;
  const source = context?.source;
  return source === undefined || String(value) === source ? value : json.rawJSON(source);
}

/**
 * JSON text without the whitespace between tokens (Postgres writes `{"a" : 1, "b" : [1, 2]}`):
 * the same document, compact, with every number and string byte for byte as it was. One pass
 * over the characters; whitespace inside strings (escapes included) stays.
 */
export function compactJson(text: string): string {
  let out = "";
  let from = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // a backslash escapes the next character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) {
      out += text.slice(from, i);
      from = i + 1;
    }
  }
  return from === 0 ? text : out + text.slice(from);
}

/**
 * Whether a JSON text has an object with two members of the same name, at any depth (names
 * compared after unescaping, so `"a"` and `"\u0061"` are the same). Parsers disagree on which
 * one wins (JSON.parse takes the last, others the first or refuse), so a request body with one
 * would mean different things to a proxy in front and to this server. The text must be valid
 * JSON (parse it first): one pass over the characters, tracking only strings and brackets.
 */
export function hasDuplicateMember(text: string): boolean {
  // One entry per open bracket: the names seen so far in an object, null for an array.
  const open: (Set<string> | null)[] = [];
  let atName = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      const start = i;
      let escaped = false;
      for (i++; text.charCodeAt(i) !== 0x22; i++) {
        if (text.charCodeAt(i) === 0x5c) {
          escaped = true;
          i++;
        }
      }
      if (atName) {
        const name = escaped ? JSON.parse(text.slice(start, i + 1)) : text.slice(start + 1, i);
        const names = open[open.length - 1]!;
        if (names.has(name)) return true;
        names.add(name);
        atName = false;
      }
    } else if (c === 0x7b) {
      open.push(new Set());
      atName = true;
    } else if (c === 0x5b) {
      open.push(null);
    } else if (c === 0x7d || c === 0x5d) {
      open.pop();
    } else if (c === 0x2c) {
      atName = open[open.length - 1] !== null;
    }
  }
  return false;
}

/** JSON.parse, keeping every number's digits (see above). */
export function parseExact(text: string): unknown {
  return JSON.parse(text, keepDigits);
}
