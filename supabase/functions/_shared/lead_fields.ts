import { z } from "zod/v4";
import type { ErrorDoc } from "./action.ts";
import { leadText, properties } from "./validation.ts";

/** The standard fields of a lead, as create_lead, lead_external and update_lead accept them. */
export const LEAD_TEXT_FIELDS = [
  "email",
  "first_name",
  "last_name",
  "phone",
  "company_name",
  "source",
  "employee",
  "notes",
  "business_id",
] as const;

/**
 * The writable lead fields plus `properties`. `referring_employee` is accepted as another name
 * for `employee` (`employee` wins when both are sent). With `nullable`, a field sent as null
 * is kept as null so that update_lead can clear it.
 */
function leadFields(options: { nullable: boolean }) {
  const fields = Object.fromEntries(
    [...LEAD_TEXT_FIELDS, "referring_employee"].map((name) => [name, leadText(name, { nullable: options.nullable })]),
  ) as Record<(typeof LEAD_TEXT_FIELDS)[number] | "referring_employee", ReturnType<typeof leadText>>;
  return { ...fields, properties: properties("properties", 100) };
}

/** Folds `referring_employee` into `employee`. */
function withEmployee<T extends { employee?: unknown; referring_employee?: unknown }>(
  { referring_employee, ...rest }: T,
): Omit<T, "referring_employee"> {
  return rest.employee === undefined ? { ...rest, employee: referring_employee } : rest;
}

/** A schema over lead fields plus `extra`, with referring_employee folded into employee. */
export function leadSchema<E extends z.ZodRawShape>(extra: E, options: { nullable: boolean }) {
  return z.object({ ...extra, ...leadFields(options) }).transform(withEmployee);
}

/** The errors of saving `properties` (SQL internal.save_properties), as the OpenAPI document lists them. */
export const PROPERTY_ERRORS: ErrorDoc[] = [
  {
    status: 400,
    code: "property_definition_not_found",
    message: "Property definition not found on this channel: <id>",
  },
  { status: 400, code: "invalid_property_value", message: "Property value must be a number: <id>" },
];
