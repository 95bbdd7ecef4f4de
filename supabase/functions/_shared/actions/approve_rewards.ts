import { z } from "zod";
import { rpcAction } from "../action.ts";
import { uuid, uuidArray } from "../validation.ts";

/** approve_rewards: the receiving company approves pending or review reward events of a channel. */
export const approve_rewards = rpcAction("approve_rewards", {
  auth: true,
  idempotent: true,
  schema: z.object({
    channel_id: uuid("channel_id", { required: true }).describe("The channel of the reward events"),
    reward_event_ids: uuidArray("reward_event_ids", 1000, { required: true, ordered: true }).describe(
      "The reward events to approve",
    ),
  }),
});
