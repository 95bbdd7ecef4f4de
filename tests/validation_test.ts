import assert from "node:assert/strict";
import { z } from "zod/v4";
import { integer, money, text, timestamp, uuidArray } from "../supabase/functions/_shared/validation.ts";
import { parseExact } from "../supabase/functions/_shared/exact_json.ts";

function parse(schema: z.ZodType, value: unknown) {
  const result = schema.safeParse(value);
  return result.success ? { value: result.data } : { error: result.error.issues[0].message };
}

Deno.test("money", async (t) => {
  const m = money("amount");
  await t.step("numbers and decimal strings become one canonical decimal text", () => {
    assert.deepEqual(parse(m, 12500), { value: "12500" });
    assert.deepEqual(parse(m, "12500.00"), { value: "12500" });
    assert.deepEqual(parse(m, 0.1), { value: "0.1" });
    assert.deepEqual(parse(m, 1e-7), { value: "0.0000001" });
    assert.deepEqual(parse(m, 1e12), { value: "1000000000000" });
    assert.deepEqual(parse(m, "0012.50"), { value: "12.5" });
    assert.deepEqual(parse(m, "1000000000000.000"), { value: "1000000000000" });
    assert.deepEqual(parse(m, "0.000000000001"), { value: "0.000000000001" });
    assert.deepEqual(parse(m, undefined), { value: undefined });
  });
  await t.step("JSON numbers a float cannot hold arrive as raw JSON and are taken to the digit", () => {
    const exact = (text: string) => parse(m, (parseExact(`[${text}]`) as unknown[])[0]);
    assert.deepEqual(exact("2852199.999999999999"), { value: "2852199.999999999999" });
    assert.deepEqual(exact("123456789012.345678901234"), { value: "123456789012.345678901234" });
    assert.deepEqual(exact("0.000000000001"), { value: "0.000000000001" });
    assert.deepEqual(exact("1.00000000000000001e11"), { value: "100000000000.000001" });
    assert.deepEqual(exact("1.000000000000000000e12"), { value: "1000000000000" });
    assert.deepEqual(exact("1.5e3"), { value: "1500" });
    assert.deepEqual(exact("1250E-2"), { value: "12.5" });
    assert.deepEqual(exact("0e99999999"), { value: "0" });
    assert.deepEqual(exact("12500.50"), { value: "12500.5" });
    assert.deepEqual(exact("1e400"), { error: "amount must be at most 1000000000000" });
    assert.deepEqual(exact("1.0000000000001e12"), { error: "amount must be at most 1000000000000" });
    assert.deepEqual(exact("1e-400"), { error: "amount must have at most 12 decimal places" });
    assert.deepEqual(exact("1e-13"), { error: "amount must have at most 12 decimal places" });
    assert.deepEqual(exact("-0.000000000000000001"), { error: "amount must be a non-negative number" });
    assert.deepEqual(parse(m, null), { value: undefined });
  });
  await t.step("anything else is refused", () => {
    for (const value of [-0.01, NaN, Infinity, "", "1e5", " 1", "1.", ".5", "+1", {}, []]) {
      assert.deepEqual(parse(m, value), { error: "amount must be a non-negative number" }, String(value));
    }
    for (const value of [1e12 + 0.5, 1e21, "1000000000000.0001", "10000000000000", "99999999999999"]) {
      assert.deepEqual(parse(m, value), { error: "amount must be at most 1000000000000" }, String(value));
    }
    assert.deepEqual(parse(m, "0.0000000000001"), { error: "amount must have at most 12 decimal places" });
    assert.deepEqual(parse(m, "0." + "0".repeat(17000) + "1"), { error: "amount must be a non-negative number" });
  });
});

Deno.test("timestamp", async (t) => {
  const ts = timestamp("date");
  await t.step("ISO 8601 dates and date-times normalise to one UTC form", () => {
    assert.deepEqual(parse(ts, "2025-04-01"), { value: "2025-04-01T00:00:00.000Z" });
    assert.deepEqual(parse(ts, "2025-04-01T02:00:00+02:00"), { value: "2025-04-01T00:00:00.000Z" });
    assert.deepEqual(parse(ts, "2025-04-01T10:20"), { value: "2025-04-01T10:20:00.000Z" });
    assert.deepEqual(parse(ts, "2025-04-01T10:20:30.5+0200"), { value: "2025-04-01T08:20:30.500Z" });
    assert.deepEqual(parse(ts, "2023-03-01T00:30+01:00"), { value: "2023-02-28T23:30:00.000Z" });
    assert.deepEqual(parse(ts, "2024-12-31T23:59:59.999999-11:30"), { value: "2025-01-01T11:29:59.999999Z" });
    assert.deepEqual(parse(ts, "0050-06-01T00:00:00Z"), { value: "0050-06-01T00:00:00.000Z" });
  });
  await t.step("what real clients write: .NET and Java fractions, hour-only offsets, lower-case t and z", () => {
    assert.deepEqual(parse(ts, "2025-04-01T00:00:00.0000000Z"), { value: "2025-04-01T00:00:00.000Z" });
    assert.deepEqual(parse(ts, "2025-04-01T00:00:00.1234567Z"), { value: "2025-04-01T00:00:00.123456Z" });
    assert.deepEqual(parse(ts, "2025-04-01T00:00:00.123456789+02:00"), { value: "2025-03-31T22:00:00.123456Z" });
    assert.deepEqual(parse(ts, "2025-04-01T02:00:00+02"), { value: "2025-04-01T00:00:00.000Z" });
    assert.deepEqual(parse(ts, "2025-04-01T00:00:00-0130"), { value: "2025-04-01T01:30:00.000Z" });
    assert.deepEqual(parse(ts, "2025-04-01t00:00:00z"), { value: "2025-04-01T00:00:00.000Z" });
  });
  await t.step("the instant must stay within the years 1 to 9999 after the offset", () => {
    assert.deepEqual(parse(ts, "0001-01-01T00:00:00-01:00"), { value: "0001-01-01T01:00:00.000Z" });
    assert.deepEqual(parse(ts, "0001-01-01T00:00:00Z"), { value: "0001-01-01T00:00:00.000Z" });
    assert.deepEqual(parse(ts, "9999-12-31T23:59:59.999999Z"), { value: "9999-12-31T23:59:59.999999Z" });
    assert.deepEqual(parse(ts, "9999-12-31T10:00:00-13:00"), { value: "9999-12-31T23:00:00.000Z" });
  });
  await t.step("impossible or malformed values are refused", () => {
    for (
      const value of [
        "2025-02-29",
        "2025-13-01",
        "2025-04-31",
        "2025-04-01T24:00:00Z",
        "2025-04-01T10:60:00Z",
        "2025-04-01T10:00:00+16:00",
        "0000-01-01",
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-15:00",
        "2025-04-01T10:00:00.1234567890Z",
        "2025-04-01T10:00:00+2",
        "2025-04-01T10:00:00+02:0",
        "April 1",
        20250401,
      ]
    ) {
      assert.deepEqual(parse(ts, value), { error: "date must be an ISO 8601 timestamp" }, String(value));
    }
  });
});

Deno.test("text and uuid sets", async (t) => {
  await t.step("text refuses NUL and unpaired surrogates, which Postgres and JSON cannot carry", () => {
    const field = text("notes");
    assert.deepEqual(parse(field, "fine ✓ 😀"), { value: "fine ✓ 😀" });
    for (const value of ["a\u0000b", "\ud800", "x\udc00"]) {
      assert.deepEqual(parse(field, value), { error: "notes contains invalid characters" });
    }
  });
  await t.step("uuid arrays are sets: lower-cased, deduplicated and sorted", () => {
    const a = "b0000000-0000-4000-8000-000000000000";
    const b = "A0000000-0000-4000-8000-000000000000";
    assert.deepEqual(parse(uuidArray("ids", 3), [a, b, a]), { value: [b.toLowerCase(), a] });
  });
});

// Whether a field's documented JSON Schema (its anyOf branches or itself) has a string branch whose pattern matches.
function documentedStringMatches(schema: z.ZodType, value: string): boolean {
  const doc = z.toJSONSchema(schema, { io: "input" });
  const branches = (Array.isArray(doc.anyOf) ? doc.anyOf : [doc]) as { type?: unknown; pattern?: string }[];
  return branches.some((b) =>
    (b.type === "string" || (Array.isArray(b.type) && b.type.includes("string"))) &&
    new RegExp(b.pattern!, "u").test(value)
  );
}

Deno.test("documented string patterns accept exactly what the server accepts", async (t) => {
  await t.step("timestamps: every form, every day of four years, edge times and offsets", () => {
    const ts = timestamp("date");
    const samples = [
      "2025-04-01",
      "2025-04-01T09:30",
      "2025-04-01T09:30+02",
      "2025-04-01 09:30:00",
      "2025-04-01t09:30:00.1234567z",
      "2025-04-01T09:30:00.123456789-0330",
      "2025-04-01T09:30:00.1234567890Z",
      "2025-04-01T24:00",
      "2025-04-01T23:60",
      "2025-04-01T23:59:60",
      "2025-04-01T10:00+16",
      "2025-04-01T10:00+15:59",
      "2025-04-01T10:00+15:60",
      "2025-04-01T10:00+2",
      "0000-01-01",
      "0001-01-01",
      "9999-12-31",
      "0001-01-01T00:00-01:00",
      "10000-01-01",
      "2025-4-01",
      "2025-04-01T",
      "2025-04-01T09",
    ];
    for (const year of ["1900", "2000", "2023", "2024", "0004", "0100", "0400"]) {
      for (let month = 0; month <= 13; month++) {
        for (let day = 0; day <= 32; day++) {
          samples.push(`${year}-${String(month).padStart(2, "0")}-${String(day).padStart(2, "0")}`);
        }
      }
    }
    for (const sample of samples) {
      assert.equal(documentedStringMatches(ts, sample), "value" in parse(ts, sample), sample);
    }
    // The one thing the pattern cannot say: an offset that moves the instant out of the years 1-9999.
    for (const sample of ["0001-01-01T00:00+01:00", "9999-12-31T23:30-01:00"]) {
      assert.deepEqual([documentedStringMatches(ts, sample), parse(ts, sample)], [true, {
        error: "date must be an ISO 8601 timestamp",
      }]);
    }
  });

  await t.step("integers as strings: limit and legacy_id, in range and out", () => {
    for (const [min, max] of [[1, 100], [1, Number.MAX_SAFE_INTEGER], [0, 9], [1, 1], [0, 1000]]) {
      const field = integer("n", min, max);
      const top = BigInt(max);
      const samples = [
        "",
        "0",
        "00",
        "1",
        "01",
        "9",
        "10",
        "99",
        "100",
        "101",
        "0100",
        "999",
        "1000",
        "abc",
        "-1",
        "1.5",
      ];
      for (const n of [top - 1n, top, top + 1n, top * 10n, top - top / 3n]) samples.push(String(n), `0${n}`);
      samples.push("0".repeat(15) + "1", "0".repeat(16) + "1", "0".repeat(16), "9".repeat(16), "9".repeat(17));
      for (const sample of samples) {
        assert.equal(
          documentedStringMatches(field, sample),
          "value" in parse(field, sample),
          `${min}-${max}: ${sample}`,
        );
      }
    }
  });
});
