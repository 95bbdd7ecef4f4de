import { z } from "zod";
import { rpcAction } from "../action.ts";

/** get_channels: every channel the key's company takes part in. */
export const get_channels = rpcAction("get_channels", { auth: true, idempotent: false, schema: z.object({}) });
