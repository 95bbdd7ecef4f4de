import { z } from "zod";
import { rpcAction } from "../action.ts";
import { integer, text, uuid } from "../validation.ts";

/** get_reward_events: a channel's reward events (commissions and reversals), newest first. */
export const get_reward_events = rpcAction("get_reward_events", {
  auth: true,
  idempotent: false,
  schema: z.object({
    channel_id: uuid("channel_id", { required: true }).describe("The channel to list"),
    lead_id: uuid("lead_id").describe("Only this lead's reward events"),
    purchase_id: uuid("purchase_id").describe("Only this purchase's reward events"),
    limit: integer("limit", 1, 100).describe("Page size, default 100"),
    cursor: text("cursor").describe("next_cursor of the previous page"),
  }),
});
