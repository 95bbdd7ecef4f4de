import { z } from "zod/v4";
import { rpcAction } from "../action.ts";
import { object, ref } from "../openapi/shapes.ts";
import { uuid } from "../validation.ts";

/** get_balances: a channel's reward amounts per currency and status. */
export const get_balances = rpcAction("get_balances", {
  auth: true,
  idempotent: false,
  schema: z.object({
    channel_id: uuid("channel_id", { required: true }).describe("The channel"),
  }),
  doc: {
    resource: "rewards",
    summary: "A channel's reward sums by status and currency, for any party of the channel.",
    response: object({ balances: { type: "array", items: ref("Balance") } }),
    errors: [{ status: 403, code: "channel_not_accessible", message: "Channel not accessible" }],
    example: { channel_id: "9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d" },
  },
});
