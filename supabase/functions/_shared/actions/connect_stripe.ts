import { z } from "zod/v4";
import { rpcAction } from "../action.ts";
import { signingSecret, uuid } from "../validation.ts";
import { object, ref } from "../openapi/shapes.ts";

/** connect_stripe: the receiving company registers a Stripe webhook signing secret for a channel; answers the endpoint. */
export const connect_stripe = rpcAction("connect_stripe", {
  auth: true,
  idempotent: true,
  schema: z.object({
    channel_id: uuid("channel_id", { required: true }).describe("The channel Stripe's sales are recorded on"),
    signing_secret: signingSecret("signing_secret", { required: true }).describe(
      "The signing secret Stripe shows for the webhook endpoint; stored, never returned",
    ),
  }),
  doc: {
    resource: "stripe",
    summary: "Connects a Stripe account to a channel (receiving company only): answers the endpoint to paste into " +
      "Stripe's webhook settings; the signing secret is stored and never returned.",
    response: object({ connection: ref("StripeConnection") }),
    errors: [
      { status: 403, code: "channel_not_accessible", message: "Channel not accessible" },
      { status: 403, code: "not_permitted", message: "Only the receiving company can do this on this channel" },
    ],
    example: {
      channel_id: "9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d",
      signing_secret: "whsec_Jx1Qk9Zp4Lm2Vb7Nc8Rt3Ys6Wd5Fg0Hh",
    },
  },
});
