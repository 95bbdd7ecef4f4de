import type { Action } from "../action.ts";
import { compactJson } from "../exact_json.ts";
import { leadSchema, PROPERTY_ERRORS } from "../lead_fields.ts";
import { uuid } from "../validation.ts";
import { object, ref } from "../openapi/shapes.ts";

/**
 * lead_external: the public lead intake of a channel with no_auth_api; no API key. The one call
 * of public.lead_external also carries the client's address, which its per-minute limit counts.
 */
export const lead_external: Action = {
  auth: false,
  idempotent: false,
  schema: leadSchema({
    channel_id: uuid("channel_id", { required: true }).describe("The channel's id or public uuid"),
  }, { nullable: false }),
  doc: {
    resource: "leads",
    summary: "The public lead intake of a channel that allows it (no_auth_api): create_lead without a key.",
    response: object({ lead: ref("Lead") }),
    errors: [
      { status: 403, code: "public_api_disabled", message: "Public API not enabled for this channel" },
      { status: 404, code: "channel_not_found", message: "Channel not found" },
      { status: 429, code: "rate_limited", message: "Too many requests" },
      ...PROPERTY_ERRORS,
    ],
    example: {
      channel_id: "9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d",
      email: "ada@example.com",
      first_name: "Ada",
      source: "landing-page",
    },
  },
  async run({ db, args, client }) {
    return { body: compactJson(await db.rpc("lead_external", { args, client: client() })), replayed: false };
  },
};
