import assert from "node:assert/strict";
import { z } from "zod";
import { money, text, timestamp, uuidArray } from "../supabase/functions/_shared/validation.ts";

function parse(schema: z.ZodTypeAny, value: unknown) {
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
        "April 1",
        "2025-04-01T10:00:00.1234567Z",
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
