import { z } from "zod/v4";
import { rpcAction } from "../action.ts";
import { externalId, uuid } from "../validation.ts";
import { CURSOR_INVALID, pageFields } from "../paging.ts";
import { object, ref } from "../openapi/shapes.ts";

/** get_purchases: purchases of a lead or a channel, newest first, paged like get_leads. */
export const get_purchases = rpcAction("get_purchases", {
  auth: true,
  idempotent: false,
  schema: z.object({
    lead_id: uuid("lead_id").describe("Purchases of this lead"),
    channel_id: uuid("channel_id").describe("Purchases on this channel"),
    external_id: externalId("external_id").describe("Only the purchases with this external_id"),
    ...pageFields(),
  }).superRefine((args, ctx) => {
    if (args.lead_id === undefined && args.channel_id === undefined) {
      ctx.addIssue({ code: "custom", message: "lead_id or channel_id required" });
    }
  }),
  doc: {
    resource: "purchases",
    summary: "Purchases of a lead or of a channel (lead_id or channel_id required), newest first.",
    response: object({ purchases: { type: "array", items: ref("Purchase") }, next_cursor: ref("NextCursor") }),
    errors: [
      { status: 400, code: "invalid_request", message: "lead_id or channel_id required" },
      { status: 403, code: "lead_not_accessible", message: "Lead not accessible" },
      { status: 403, code: "channel_not_accessible", message: "Channel not accessible" },
      CURSOR_INVALID,
    ],
    rule: {
      description: "lead_id or channel_id required",
      anyOf: [
        { required: ["lead_id"], properties: { lead_id: { type: "string" } } },
        { required: ["channel_id"], properties: { channel_id: { type: "string" } } },
      ],
    },
    example: { channel_id: "9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d", limit: 20 },
  },
});
