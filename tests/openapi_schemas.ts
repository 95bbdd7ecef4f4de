// The OpenAPI document's schemas as ajv validators (JSON Schema 2020-12, the dialect of
// OpenAPI 3.1), for tests that hold requests and answers against the document.
import { Ajv2020 } from "npm:ajv@8.20.0/dist/2020.js";
import type { ValidateFunction } from "npm:ajv@8.20.0/dist/2020.js";

// A copy of the document in which every object schema that lists properties allows no other
// key: the document lets clients expect more keys later, the tests let no undocumented key pass.
function strict(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(strict);
  if (typeof value !== "object" || value === null) return value;
  const out = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, strict(v)]));
  if (out.type === "object" && out.properties && !("additionalProperties" in out)) out.additionalProperties = false;
  return out;
}

/** Validators of the document's component schemas: requests as documented, answers strictly. */
export function compileSchemas(document: Record<string, unknown>) {
  // strict: false lets ajv skip OpenAPI's own keywords (discriminator, x-…); formats are
  // annotations in 2020-12 and every string field the server checks also has a pattern.
  const ajv = new Ajv2020({ strict: false, validateFormats: false });
  ajv.addSchema({ ...document, $id: "loose" });
  // As a validating proxy (Prism) reads requests: formats asserted, as RFC 3339 and RFC 4122 define them.
  const proxy = new Ajv2020({
    strict: false,
    formats: {
      uuid: /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i,
      "date-time": /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$/,
    },
  });
  proxy.addSchema({ ...document, $id: "proxy" });
  ajv.addSchema({ ...(strict(document) as Record<string, unknown>), $id: "strict" });
  const cache = new Map<string, ValidateFunction>();
  const get = (ref: string) => {
    let validate = cache.get(ref);
    if (!validate) {
      validate = (ref.startsWith("proxy#") ? proxy : ajv).getSchema(ref);
      if (!validate) throw new Error(`no schema ${ref}`);
      cache.set(ref, validate);
    }
    return validate;
  };
  return {
    /** The request schema of an action (or "ActionRequest", the union). */
    request: (name: string) => get(`loose#/components/schemas/${name}`),
    /** The request schema of an action with its formats asserted, as a validating proxy checks it. */
    proxyRequest: (name: string) => get(`proxy#/components/schemas/${name}`),
    /** An action's success body, with no undocumented key allowed. */
    response: (name: string) => get(`strict#/components/schemas/${name}_response`),
    /** The error body of a status, with no undocumented key allowed. */
    error: (status: number) => get(`strict#/components/schemas/Error${status}`),
    /** Any component schema, with no undocumented key allowed. */
    component: (name: string) => get(`strict#/components/schemas/${name}`),
  };
}
