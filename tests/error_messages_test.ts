import assert from "node:assert/strict";
import { act, call, errorBody, leadEffects, statusAndBody, testEnv, world } from "./helpers.ts";
import { ApiError } from "../supabase/functions/_shared/errors.ts";

// Every control character (C0 but NUL, which Postgres text cannot hold, DEL, C1) and the
// printable characters at the edges of those ranges.
const CONTROLS = [...Array(0x20).keys(), 0x7f, ...Array.from({ length: 0x20 }, (_, i) => 0x80 + i)]
  .filter((c) => c !== 0)
  .map((c) => String.fromCharCode(c));
const EDGES = " ~\u00a0\u00ff";

Deno.test("error messages carry no control characters", async (t) => {
  const env = testEnv();
  const { sql } = env;
  try {
    await t.step("internal.fail replaces each control character with U+FFFD and keeps everything else", async () => {
      const message = `a${CONTROLS.join("")}b${EDGES}`;
      const error = await sql`select internal.fail(404, 'some_code', ${message})`.catch((e) => e);
      assert.deepEqual(
        [error.code, error.hint, error.message],
        ["PT404", "some_code", `a${"\uFFFD".repeat(CONTROLS.length)}b${EDGES}`],
      );
    });

    await t.step("ApiError replaces each control character, NUL included, with U+FFFD", () => {
      const error = new ApiError(400, "some_code", `a\0${CONTROLS.join("")}b${EDGES}`);
      assert.equal(error.message, `a${"\uFFFD".repeat(CONTROLS.length + 1)}b${EDGES}`);
    });

    await t.step("update_status echoes a status name with CR, LF, TAB, DEL and C1 sanitized", async () => {
      const w = await world(sql);
      const reply = await act(env, w.receiving.key, "update_status", {
        lead_id: w.leadId,
        status: "New\r\nX-Injected: 1\t\u007f\u0085 ✓",
      });
      assert.deepEqual(
        statusAndBody(reply),
        errorBody(
          reply,
          404,
          'Status "New\uFFFD\uFFFDX-Injected: 1\uFFFD\uFFFD\uFFFD ✓" not found for this channel',
          "status_not_found",
        ),
      );
      const [lead] = await sql`select lead_status_id from public.leads where id = ${w.leadId}`;
      assert.equal(lead.lead_status_id, w.statusId);
      assert.equal((await leadEffects(sql, w.leadId)).status_events, 0);
    });

    await t.step("an unknown action is echoed with CR and LF sanitized", async () => {
      for (
        const [action, message] of [
          ["\r\n", "Unknown action: \uFFFD\uFFFD"],
          ["get_leads\r\nX-Injected: 1", "Unknown action: get_leads\uFFFD\uFFFDX-Injected: 1"],
          ["a\u0000b\u009fc", "Unknown action: a\uFFFDb\uFFFDc"],
        ]
      ) {
        const reply = await call(env.handler, { action });
        assert.deepEqual(statusAndBody(reply), errorBody(reply, 400, message, "unknown_action"));
      }
    });
  } finally {
    await env.close();
  }
});
