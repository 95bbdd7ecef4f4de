import { rpcAction } from "../action.ts";
import { LEAD_TEXT_FIELDS, leadSchema, PROPERTY_ERRORS } from "../lead_fields.ts";
import { uuid } from "../validation.ts";
import { object, ref } from "../openapi/shapes.ts";

/** update_lead: a partial update of a lead's fields (null clears) and a property upsert. */
export const update_lead = rpcAction("update_lead", {
  auth: true,
  idempotent: true,
  schema: leadSchema({ lead_id: uuid("lead_id", { required: true }) }, { nullable: true }).superRefine(
    (args, ctx) => {
      const changes = LEAD_TEXT_FIELDS.some((name) => args[name] !== undefined) ||
        (args.properties?.length ?? 0) > 0;
      if (!changes) ctx.addIssue({ code: "custom", message: "No fields to update" });
    },
  ),
  doc: {
    resource: "leads",
    summary: "Changes some of a lead's fields (null clears one) and upserts its property values.",
    response: object({ lead: ref("Lead") }),
    errors: [{ status: 400, code: "invalid_request", message: "No fields to update" }, {
      status: 403,
      code: "lead_not_accessible",
      message: "Lead not accessible",
    }, ...PROPERTY_ERRORS],
    rule: {
      description: "No fields to update: send at least one lead field or a non-empty properties array",
      anyOf: [
        ...[...LEAD_TEXT_FIELDS, "referring_employee"].map((name) => ({ required: [name] })),
        { required: ["properties"], properties: { properties: { type: "array", minItems: 1, items: {} } } },
      ],
    },
    example: {
      lead_id: "3f6b8f1e-2a4c-4d5e-8b7a-9c0d1e2f3a4b",
      phone: "+49 151 12345678",
      notes: null,
      properties: [{ property_definitions_id: "8b9c0d1e-2f3a-4b4c-9d5e-6f7a8b9c0d1e", value: "Enterprise" }],
    },
  },
});
