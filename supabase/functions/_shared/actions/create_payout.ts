import { z } from "zod";
import { rpcAction } from "../action.ts";
import { currencyCode, uuid } from "../validation.ts";

/** create_payout: gathers a channel's approved reward events not yet in a payout into one pending payout. */
export const create_payout = rpcAction("create_payout", {
  auth: true,
  idempotent: true,
  schema: z.object({
    channel_id: uuid("channel_id", { required: true }).describe("The channel to pay out"),
    currency: currencyCode("currency").describe("Default: the channel's currency"),
  }),
});
