import { z } from "zod";
import { rpcAction } from "../action.ts";
import { integer, text, uuid } from "../validation.ts";

/** get_leads: a channel's leads, newest first, paged by an opaque cursor. */
export const get_leads = rpcAction("get_leads", {
  auth: true,
  idempotent: false,
  schema: z.object({
    channel_id: uuid("channel_id", { required: true }).describe("The channel to list"),
    limit: integer("limit", 1, 100).describe("Page size, default 100"),
    cursor: text("cursor").describe("next_cursor of the previous page"),
  }),
});
