import { z } from "zod/v4";
import { rpcAction } from "../action.ts";
import { object, ref } from "../openapi/shapes.ts";
import { currencyCode, uuid } from "../validation.ts";

/** create_payout: gathers a channel's approved reward events not yet in a payout into one pending payout. */
export const create_payout = rpcAction("create_payout", {
  auth: true,
  idempotent: true,
  queuesWebhooks: true,
  schema: z.object({
    channel_id: uuid("channel_id", { required: true }).describe("The channel to pay out"),
    currency: currencyCode("currency").describe("Default: the channel's currency"),
  }),
  doc: {
    resource: "payouts",
    summary: "The receiving company gathers a channel's approved reward events not yet in a payout into one.",
    response: object({ payout: ref("Payout") }),
    errors: [{ status: 403, code: "channel_not_accessible", message: "Channel not accessible" }, {
      status: 403,
      code: "not_permitted",
      message: "Only the receiving company can do this on this channel",
    }, { status: 400, code: "nothing_to_pay", message: "Nothing to pay" }],
    example: { channel_id: "9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d", currency: "USD" },
  },
});
