import { z } from "zod/v4";
import { rpcAction } from "../action.ts";
import { object, ref } from "../openapi/shapes.ts";

/** get_channels: every channel the key's company takes part in. */
export const get_channels = rpcAction("get_channels", {
  auth: true,
  idempotent: false,
  schema: z.object({}),
  doc: {
    resource: "channels",
    summary: "Every channel your company takes part in, with its property definitions and statuses.",
    response: object({ channels: { type: "array", items: ref("Channel") } }),
    example: {},
  },
});
