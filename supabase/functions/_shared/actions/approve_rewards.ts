import { z } from "zod/v4";
import { rpcAction } from "../action.ts";
import { ref } from "../openapi/shapes.ts";
import { uuid, uuidArray } from "../validation.ts";

/** approve_rewards: the receiving company approves pending or review reward events of a channel. */
export const approve_rewards = rpcAction("approve_rewards", {
  auth: true,
  idempotent: true,
  queuesWebhooks: true,
  schema: z.object({
    channel_id: uuid("channel_id", { required: true }).describe("The channel of the reward events"),
    reward_event_ids: uuidArray("reward_event_ids", 1000, { required: true, ordered: true }).describe(
      "The reward events to approve",
    ),
  }),
  doc: {
    resource: "rewards",
    summary: "The receiving company approves pending or review reward events of a channel; others are skipped.",
    response: ref("RewardDecision"),
    errors: [{ status: 403, code: "channel_not_accessible", message: "Channel not accessible" }, {
      status: 403,
      code: "not_permitted",
      message: "Only the receiving company can do this on this channel",
    }, { status: 404, code: "reward_event_not_found", message: "Reward event not found: <id>" }],
    example: {
      channel_id: "9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d",
      reward_event_ids: ["1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f", "0b1c2d3e-4f5a-4b6c-9d7e-8f9a0b1c2d3e"],
    },
  },
});
