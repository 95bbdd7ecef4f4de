import { z } from "zod";
import { rpcAction } from "../action.ts";
import { integer, text, uuid } from "../validation.ts";

/** get_purchases: purchases of a lead or a channel, newest first, paged like get_leads. */
export const get_purchases = rpcAction("get_purchases", {
  auth: true,
  idempotent: false,
  schema: z.object({
    lead_id: uuid("lead_id").describe("Purchases of this lead"),
    channel_id: uuid("channel_id").describe("Purchases on this channel"),
    limit: integer("limit", 1, 100).describe("Page size, default 100"),
    cursor: text("cursor").describe("next_cursor of the previous page"),
  }).superRefine((args, ctx) => {
    if (args.lead_id === undefined && args.channel_id === undefined) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: "lead_id or channel_id required" });
    }
  }),
});
