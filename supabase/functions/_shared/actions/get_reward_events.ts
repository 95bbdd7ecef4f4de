import { z } from "zod/v4";
import { rpcAction } from "../action.ts";
import { uuid } from "../validation.ts";
import { CURSOR_INVALID, pageFields } from "../paging.ts";
import { object, ref } from "../openapi/shapes.ts";

/** get_reward_events: a channel's reward events (commissions and reversals), newest first. */
export const get_reward_events = rpcAction("get_reward_events", {
  auth: true,
  idempotent: false,
  schema: z.object({
    channel_id: uuid("channel_id", { required: true }).describe("The channel to list"),
    lead_id: uuid("lead_id").describe("Only this lead's reward events"),
    purchase_id: uuid("purchase_id").describe("Only this purchase's reward events"),
    ...pageFields(),
  }),
  doc: {
    resource: "rewards",
    summary: "A channel's reward events (commissions and their reversals), newest first.",
    response: object({
      reward_events: { type: "array", items: ref("RewardEventDetailed") },
      next_cursor: ref("NextCursor"),
    }),
    errors: [{ status: 403, code: "channel_not_accessible", message: "Channel not accessible" }, CURSOR_INVALID],
    example: {
      channel_id: "9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d",
      purchase_id: "4e5f6a7b-8c9d-4e0f-a1b2-c3d4e5f6a7b8",
    },
  },
});
