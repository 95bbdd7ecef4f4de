import { z } from "zod/v4";
import { rpcAction } from "../action.ts";
import { object, ref } from "../openapi/shapes.ts";
import { uuid } from "../validation.ts";
import { CURSOR_INVALID, pageFields } from "../paging.ts";

/** get_payouts: a channel's payouts, newest first, paged like get_leads. */
export const get_payouts = rpcAction("get_payouts", {
  auth: true,
  idempotent: false,
  schema: z.object({
    channel_id: uuid("channel_id", { required: true }).describe("The channel to list"),
    ...pageFields(),
  }),
  doc: {
    resource: "payouts",
    summary: "A channel's payouts, newest first, for any party of the channel.",
    response: object({ payouts: { type: "array", items: ref("Payout") }, next_cursor: ref("NextCursor") }),
    errors: [{ status: 403, code: "channel_not_accessible", message: "Channel not accessible" }, CURSOR_INVALID],
    example: { channel_id: "9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d", limit: 10 },
  },
});
