import { z } from "zod";
import { rpcAction } from "../action.ts";
import { integer, text, uuid } from "../validation.ts";

/** get_payouts: a channel's payouts, newest first, paged like get_leads. */
export const get_payouts = rpcAction("get_payouts", {
  auth: true,
  idempotent: false,
  schema: z.object({
    channel_id: uuid("channel_id", { required: true }).describe("The channel to list"),
    limit: integer("limit", 1, 100).describe("Page size, default 100"),
    cursor: text("cursor").describe("next_cursor of the previous page"),
  }),
});
