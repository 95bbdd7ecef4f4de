import assert from "node:assert/strict";
import { z } from "zod";
import { money, timestamp } from "../supabase/functions/_shared/validation.ts";

function parse(schema: z.ZodTypeAny, value: unknown) {
  const result = schema.safeParse(value);
  return result.success ? { value: result.data } : { error: result.error.issues[0].message };
}

Deno.test("money", async (t) => {
  const m = money("amount");
  await t.step("numbers become their decimal text, strings are kept exactly", () => {
    assert.deepEqual(parse(m, 12500), { value: "12500" });
    assert.deepEqual(parse(m, 0.1), { value: "0.1" });
    assert.deepEqual(parse(m, 1e12), { value: "1000000000000" });
    assert.deepEqual(parse(m, "0012.50"), { value: "0012.50" });
    assert.deepEqual(parse(m, "1000000000000.000"), { value: "1000000000000.000" });
    assert.deepEqual(parse(m, undefined), { value: undefined });
    assert.deepEqual(parse(m, null), { value: undefined });
  });
  await t.step("anything else is refused", () => {
    for (const value of [-0.01, NaN, Infinity, "", "1e5", " 1", "1.", ".5", "+1", {}, []]) {
      assert.deepEqual(parse(m, value), { error: "amount must be a non-negative number" }, String(value));
    }
    for (const value of [1e12 + 0.5, "1000000000000.0001", "10000000000000", "99999999999999"]) {
      assert.deepEqual(parse(m, value), { error: "amount must be at most 1000000000000" }, String(value));
    }
  });
});

Deno.test("timestamp", async (t) => {
  const ts = timestamp("date");
  await t.step("ISO 8601 dates and date-times normalise to an explicit offset", () => {
    assert.deepEqual(parse(ts, "2025-04-01"), { value: "2025-04-01T00:00:00Z" });
    assert.deepEqual(parse(ts, "2025-04-01T10:20"), { value: "2025-04-01T10:20:00Z" });
    assert.deepEqual(parse(ts, "2025-04-01T10:20:30.5+0200"), { value: "2025-04-01T10:20:30.5+02:00" });
    assert.deepEqual(parse(ts, "2024-02-29T23:59:59.999999-11:30"), { value: "2024-02-29T23:59:59.999999-11:30" });
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
