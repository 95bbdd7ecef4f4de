import { z } from "zod/v4";
import { rpcAction } from "../action.ts";
import { ref } from "../openapi/shapes.ts";
import { text, uuid, uuidArray } from "../validation.ts";

/** reject_rewards: the receiving company rejects reward events of a channel that are not in a payout. */
export const reject_rewards = rpcAction("reject_rewards", {
  auth: true,
  idempotent: true,
  queuesWebhooks: true,
  schema: z.object({
    channel_id: uuid("channel_id", { required: true }).describe("The channel of the reward events"),
    reward_event_ids: uuidArray("reward_event_ids", 1000, { required: true, ordered: true }).describe(
      "The reward events to reject",
    ),
    reason: text("reason", { required: true }).describe("Why; returned as rejection_reason"),
  }),
  doc: {
    resource: "rewards",
    summary: "The receiving company rejects reward events of a channel (never paid); those in a payout are skipped.",
    response: ref("RewardDecision"),
    errors: [{ status: 403, code: "channel_not_accessible", message: "Channel not accessible" }, {
      status: 403,
      code: "not_permitted",
      message: "Only the receiving company can do this on this channel",
    }, { status: 404, code: "reward_event_not_found", message: "Reward event not found: <id>" }],
    example: {
      channel_id: "9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d",
      reward_event_ids: ["1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f"],
      reason: "Order cancelled within the trial period",
    },
  },
});
