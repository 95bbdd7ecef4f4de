import { z } from "zod";
import { rpcAction } from "../action.ts";
import { uuid } from "../validation.ts";

/** get_balances: a channel's reward amounts per currency and status. */
export const get_balances = rpcAction("get_balances", {
  auth: true,
  idempotent: false,
  schema: z.object({
    channel_id: uuid("channel_id", { required: true }).describe("The channel"),
  }),
});
