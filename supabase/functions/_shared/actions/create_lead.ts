import { rpcAction } from "../action.ts";
import { leadSchema, PROPERTY_ERRORS } from "../lead_fields.ts";
import { uuid } from "../validation.ts";
import { object, ref } from "../openapi/shapes.ts";

/** create_lead: a lead on a channel of the key's company, with its event, rewards and webhook. */
export const create_lead = rpcAction("create_lead", {
  auth: true,
  idempotent: true,
  queuesWebhooks: true,
  schema: leadSchema({ channel_id: uuid("channel_id", { required: true }) }, { nullable: false }),
  doc: {
    resource: "leads",
    summary: "Creates a lead on a channel with its first status: event, new-lead rewards and webhook.",
    response: object({ lead: ref("Lead") }),
    errors: [{ status: 403, code: "channel_not_accessible", message: "Channel not accessible" }, ...PROPERTY_ERRORS],
    example: {
      channel_id: "9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d",
      email: "ada@example.com",
      first_name: "Ada",
      last_name: "Lovelace",
      phone: 4915112345678,
      company_name: "Analytical Engines Ltd",
      source: "partner-site",
      employee: "jane.doe",
      properties: [{ property_definitions_id: "8b9c0d1e-2f3a-4b4c-9d5e-6f7a8b9c0d1e", value: "Enterprise" }],
    },
  },
});
