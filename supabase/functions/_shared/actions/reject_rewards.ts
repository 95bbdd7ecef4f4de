import { z } from "zod";
import { rpcAction } from "../action.ts";
import { text, uuid, uuidArray } from "../validation.ts";

/** reject_rewards: the receiving company rejects reward events of a channel that are not in a payout. */
export const reject_rewards = rpcAction("reject_rewards", {
  auth: true,
  idempotent: true,
  schema: z.object({
    channel_id: uuid("channel_id", { required: true }).describe("The channel of the reward events"),
    reward_event_ids: uuidArray("reward_event_ids", 1000, { required: true, ordered: true }).describe(
      "The reward events to reject",
    ),
    reason: text("reason", { required: true }).describe("Why; returned as rejection_reason"),
  }),
});
