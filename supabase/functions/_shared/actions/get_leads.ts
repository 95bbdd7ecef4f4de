import { z } from "zod/v4";
import { rpcAction } from "../action.ts";
import { uuid } from "../validation.ts";
import { CURSOR_INVALID, pageFields } from "../paging.ts";
import { object, ref } from "../openapi/shapes.ts";

/** get_leads: a channel's leads, newest first, paged by an opaque cursor. */
export const get_leads = rpcAction("get_leads", {
  auth: true,
  idempotent: false,
  schema: z.object({
    channel_id: uuid("channel_id", { required: true }).describe("The channel to list"),
    ...pageFields(),
  }),
  doc: {
    resource: "leads",
    summary: "A channel's leads, newest first, 100 a page at most.",
    response: object({ leads: { type: "array", items: ref("Lead") }, next_cursor: ref("NextCursor") }),
    errors: [{ status: 403, code: "channel_not_accessible", message: "Channel not accessible" }, CURSOR_INVALID],
    example: { channel_id: "9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d", limit: 50 },
  },
});
