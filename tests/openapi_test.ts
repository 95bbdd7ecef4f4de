// docs/operations.md, "The OpenAPI document and the docs page": the OpenAPI document and the
// reference page, as the handler serves them, checked by standard tools: swagger-parser and Redocly's linter (no errors), ajv (the examples),
// openapi-typescript (a typed client compiles). No database: the GET routes must not need one.
import assert from "node:assert/strict";
import SwaggerParser from "npm:@apidevtools/swagger-parser@13.1.0";
import { createConfig, lintFromString } from "npm:@redocly/openapi-core@1.34.24";
import openapiTS, { astToString } from "npm:openapi-typescript@7.13.0";
import { createHandler } from "../supabase/functions/_shared/handler.ts";
import { actions } from "../supabase/functions/_shared/registry.ts";
import { RESOURCES } from "../supabase/functions/_shared/action.ts";
import { openApiDocument } from "../supabase/functions/_shared/openapi/document.ts";
import { rendererScript } from "../supabase/functions/_shared/openapi/docs_page.ts";
import { RENDERER_MODULE, rendererModule } from "../dev/renderer.ts";
import { FUNCTION_URL } from "./helpers.ts";
import { compileSchemas } from "./openapi_schemas.ts";
import type { Db } from "../supabase/functions/_shared/db.ts";

/** A database that must never be called: the GET routes answer without one. */
function untouchableDb(calls: string[]): Db {
  return {
    rpc: (name: string) => {
      calls.push(name);
      return Promise.reject(new Error("the database must not be called"));
    },
    close: () => Promise.resolve(),
  } as Db;
}

const document = openApiDocument(actions);

Deno.test("GET routes of the function: openapi.json and docs", async (t) => {
  const calls: string[] = [];
  const handler = createHandler({ db: untouchableDb(calls) });
  const get = (path: string, headers: Record<string, string> = {}) =>
    handler(new Request(`${FUNCTION_URL}${path}`, { headers }));

  await t.step("…/openapi.json answers the generated document as JSON, with no API key", async () => {
    const res = await get("/openapi.json", { "X-Request-Id": "docs-1" });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "application/json");
    assert.equal(res.headers.get("x-request-id"), "docs-1");
    assert.equal(res.headers.get("access-control-allow-origin"), "*");
    const text = await res.text();
    assert.deepEqual(JSON.parse(text), document);
    console.log(`OpenAPI document: ${new TextEncoder().encode(text).length} bytes`);
  });

  await t.step("…/docs answers the reference page, which loads its renderer from under …/docs", async () => {
    const res = await get("/docs");
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "text/html; charset=utf-8");
    assert.match(res.headers.get("x-request-id")!, /^[0-9a-f-]{36}$/);
    assert.match(res.headers.get("content-security-policy")!, /default-src 'none'/);
    const html = await res.text();
    assert.match(html, /<script src="docs\/redoc\.standalone\.js"><\/script>/);
    const resources = [...html.matchAll(/\b(?:src|href)="([^"]*)"/g)].map((m) => m[1]);
    assert.deepEqual(resources.filter((url) => !url.startsWith("data:")), ["docs/redoc.standalone.js"]);
    const asset = await get("/docs/redoc.standalone.js");
    assert.equal(asset.status, 200);
    assert.equal(asset.headers.get("content-type"), "text/javascript; charset=utf-8");
    assert.equal(await asset.text(), await rendererScript());
  });

  await t.step("a GET to the function or its sweep route answers 405 with the error body", async () => {
    for (const path of ["", "/", "/sweep-webhooks"]) {
      const res = await get(path);
      assert.equal(res.status, 405, path);
      assert.equal(res.headers.get("allow"), "POST, OPTIONS");
      const body = await res.json();
      assert.deepEqual(body, {
        error: "Method not allowed",
        code: "method_not_allowed",
        request_id: res.headers.get("x-request-id"),
      });
    }
  });

  await t.step("any other method on a GET route answers 405 with Allow: GET, OPTIONS", async () => {
    for (const method of ["POST", "PUT", "DELETE"]) {
      const res = await handler(
        new Request(`${FUNCTION_URL}/openapi.json`, { method, body: '{"action":"get_channels"}' }),
      );
      assert.equal(res.status, 405, method);
      assert.equal(res.headers.get("allow"), "GET, OPTIONS");
      assert.equal((await res.json()).code, "method_not_allowed");
    }
  });

  await t.step("any other sub-path answers 404 Not found, whatever the method", async () => {
    const paths = [
      "/docs/",
      "/docs/other.js",
      "/openapi.yaml",
      "/x/openapi.json",
      "/create_purchases",
      "/v2",
      "/sweep",
    ];
    for (const path of paths) {
      for (const method of ["GET", "POST"]) {
        const body = method === "POST" ? '{"action":"get_channels"}' : undefined;
        const res = await handler(
          new Request(`${FUNCTION_URL}${path}`, { method, body, headers: { "X-Request-Id": "nf-1" } }),
        );
        assert.equal(res.status, 404, `${method} ${path}`);
        assert.equal(res.headers.get("content-type"), "application/json");
        assert.deepEqual(await res.json(), { error: "Not found", code: "not_found", request_id: "nf-1" });
      }
    }
  });

  await t.step("none of this touched the database", () => {
    assert.deepEqual(calls, []);
  });
});

Deno.test("the OpenAPI document", async (t) => {
  await t.step("is valid OpenAPI 3.1 for swagger-parser, every reference resolving", async () => {
    const api = await SwaggerParser.validate(structuredClone(document) as never);
    assert.equal((api as { openapi: string }).openapi, "3.1.0");
    await SwaggerParser.dereference(structuredClone(document) as never);
  });

  await t.step("has no error for Redocly's linter (spec rules and recommended)", async () => {
    for (const ruleset of ["spec", "recommended"]) {
      const config = await createConfig({ extends: [ruleset] });
      const problems = await lintFromString({ source: JSON.stringify(document), config });
      const errors = problems.filter((p) => p.severity === "error");
      assert.deepEqual(errors.map((p) => `${p.ruleId}: ${p.message} at ${p.location[0]?.pointer}`), [], ruleset);
    }
  });

  await t.step("describes every action of the registry: request, response, errors, example", () => {
    const schemas = (document.components as { schemas: Record<string, Record<string, unknown>> }).schemas;
    const union = schemas.ActionRequest as { oneOf: unknown[]; discriminator: { mapping: Record<string, string> } };
    assert.deepEqual(Object.keys(union.discriminator.mapping).sort(), Object.keys(actions).sort());
    assert.equal(union.oneOf.length, Object.keys(actions).length);
    for (const [name, action] of Object.entries(actions)) {
      assert.ok(action.doc?.summary, `${name}: summary`);
      assert.ok(action.doc?.response, `${name}: a documented response`);
      assert.ok(action.doc?.example, `${name}: an example`);
      const request = schemas[name] as { properties: Record<string, unknown>; "x-api-key-required": boolean };
      assert.deepEqual(request.properties.action, { type: "string", const: name });
      assert.equal(request["x-api-key-required"], action.auth);
    }
  });

  await t.step("names the key, the idempotency and request-id headers; no key on lead_external", () => {
    const components = document.components as Record<string, Record<string, Record<string, unknown>>>;
    assert.deepEqual(components.securitySchemes.ApiKey, {
      type: "apiKey",
      in: "header",
      name: "X-Api-Key",
      description: components.securitySchemes.ApiKey.description,
    });
    assert.equal(components.parameters["Idempotency-Key"].in, "header");
    assert.equal(components.parameters["X-Request-Id"].in, "header");
    const idempotent = Object.keys(actions).filter((name) => actions[name].idempotent).sort();
    assert.ok(idempotent.includes("create_purchase"));
    for (const name of idempotent) {
      assert.match(components.parameters["Idempotency-Key"].description as string, new RegExp(`\\b${name}\\b`));
    }
    assert.equal(components.schemas.lead_external["x-api-key-required"], false);
    assert.match(components.securitySchemes.ApiKey.description as string, /but lead_external needs it/);
  });

  await t.step("lists each action's exact error strings with their status and code", () => {
    const errors = (document.components as { schemas: Record<string, { properties: Record<string, unknown> }> })
      .schemas;
    const error403 = JSON.stringify(errors.Error403);
    assert.match(error403, /"Lead not accessible"/);
    assert.match(error403, /"lead_not_accessible"/);
    const error400 = JSON.stringify(errors.Error400);
    for (const message of ["lead_id required", "purchase_amount must be a non-negative number", "Invalid JSON body"]) {
      assert.ok(error400.includes(JSON.stringify(message)), message);
    }
    assert.ok(error400.includes("^Unknown action: .*$"));
    const paths = document.paths as Record<string, { post: { description: string } }>;
    assert.match(
      paths["/openapi-operations/create_purchase"].post.description,
      /\| 403 \| `product_not_owned` \| `Product not found or not owned by your company` \|/,
    );
  });

  await t.step("each action's example is a valid request of that action", () => {
    const { request } = compileSchemas(document);
    for (const name of Object.keys(actions)) {
      const example = (document.components as { schemas: Record<string, { examples: unknown[] }> }).schemas[name]
        .examples[0];
      assert.equal(request(name)(example), true, `${name}: ${JSON.stringify(request(name).errors)}`);
      assert.equal(request("ActionRequest")(example), true, name);
    }
  });
});

Deno.test("one operation per action, generated from the registry (API.md §8)", async (t) => {
  type Operation = {
    tags: string[];
    operationId: string;
    security: unknown[];
    parameters: { $ref: string }[];
    requestBody: { content: Record<string, { schema: { $ref: string } }> };
    responses: Record<string, { content?: Record<string, { schema: { $ref: string } }> }>;
  };
  const paths = document.paths as Record<string, { post?: Operation }>;
  const schemas = (document.components as { schemas: Record<string, Record<string, unknown>> }).schemas;

  await t.step("every action has a resource among the five tags; the document declares them", () => {
    for (const [name, action] of Object.entries(actions)) {
      assert.ok(RESOURCES.includes(action.doc?.resource!), `${name} has no resource`);
    }
    const tags = (document.tags as { name: string }[]).map((tag) => tag.name);
    assert.deepEqual(tags, [...RESOURCES, "Endpoint", "Reference"]);
  });

  await t.step("each action's path has one POST operation: camelCase id, tag, request, 200, errors", () => {
    // Every path but the function's, its sweep route and its GET routes.
    const fixed = ["", "/sweep-webhooks", "/stripe/{connection_id}", "/openapi.json", "/docs"].map((path) =>
      `/openapi-operations${path}`
    );
    const own = Object.keys(paths).filter((path) => !fixed.includes(path));
    assert.deepEqual(own.sort(), Object.keys(actions).map((name) => `/openapi-operations/${name}`).sort());
    assert.equal(paths["/openapi-operations/create_purchase"].post!.operationId, "createPurchase");
    assert.equal(paths["/openapi-operations/get_lead_by_legacy_id"].post!.operationId, "getLeadByLegacyId");
    assert.deepEqual(paths["/openapi-operations/create_purchase"].post!.tags, ["purchases"]);
    for (const [name, action] of Object.entries(actions)) {
      const operation = paths[`/openapi-operations/${name}`].post!;
      assert.deepEqual(operation.tags, [action.doc!.resource]);
      assert.deepEqual(operation.security, action.auth ? [{ ApiKey: [] }] : []);
      assert.equal(
        operation.parameters.some((p) => p.$ref.endsWith("/Idempotency-Key")),
        action.idempotent,
        `${name}: Idempotency-Key`,
      );
      assert.deepEqual(operation.requestBody.content["application/json"].schema, {
        $ref: `#/components/schemas/${name}_request`,
      });
      const request = schemas[`${name}_request`] as { required: string[]; properties: Record<string, unknown> };
      assert.ok(!request.required.includes("action"), `${name}: action is optional on its path`);
      assert.equal((request.properties.action as { const: string }).const, name);
      assert.deepEqual(operation.responses["200"].content!["application/json"].schema, {
        $ref: `#/components/schemas/${name}_response`,
      });
      for (const [status, response] of Object.entries(operation.responses)) {
        if (status === "200") continue;
        assert.deepEqual(response.content!["application/json"].schema, { $ref: `#/components/schemas/${name}_error` });
      }
    }
  });

  await t.step("an action's error schema: `code` is the enum of that action's codes, the strings listed", () => {
    const code = (name: string) =>
      (schemas[`${name}_error`].properties as Record<string, { enum: string[] }>).code.enum;
    assert.deepEqual(code("get_channels"), [
      "action_mismatch",
      "internal_error",
      "invalid_api_key",
      "invalid_json",
      "payload_too_large",
      "service_unavailable",
    ]);
    assert.ok(code("create_purchase").includes("lead_not_accessible"));
    assert.ok(code("create_purchase").includes("idempotency_key_reused"));
    assert.ok(!code("create_purchase").includes("payout_not_found"));
    assert.ok(!code("lead_external").includes("invalid_api_key"));
    assert.ok(JSON.stringify(schemas.create_purchase_error).includes('"Lead not accessible"'));
    assert.ok(JSON.stringify(schemas.create_purchase_error).includes('"action does not match the path"'));
    assert.ok(!JSON.stringify(schemas.create_purchase_error).includes('"action required"'));
  });

  await t.step("the single URL stays, described as the compatibility form", () => {
    const single = (document.paths as Record<string, { post: { operationId: string; summary: string } }>)[
      "/openapi-operations"
    ].post;
    assert.equal(single.operationId, "callAction");
    assert.match(single.summary, /compatibility/);
  });

  await t.step("the document says how to keep amounts exact from JavaScript", () => {
    const overview = (document.info as { description: string }).description;
    assert.match(overview, /### Money from JavaScript/);
    assert.match(overview, /context\.source/);
    assert.match(overview, /lossless-json/);
  });
});

Deno.test("the renderer module holds exactly the pinned Redoc bundle (deno task docs-renderer)", async () => {
  assert.equal(await Deno.readTextFile(RENDERER_MODULE), rendererModule());
});

Deno.test("a TypeScript client type generated by openapi-typescript type-checks a create_purchase call", async () => {
  const dir = await Deno.makeTempDir({ prefix: "openapi-typescript-" });
  try {
    const types = astToString(await openapiTS(structuredClone(document) as never));
    await Deno.writeTextFile(`${dir}/openapi.ts`, types);
    await Deno.writeTextFile(
      `${dir}/client.ts`,
      `import type { components, paths } from "./openapi.ts";

type Body = paths["/openapi-operations"]["post"]["requestBody"]["content"]["application/json"];
type CreatePurchase = components["schemas"]["create_purchase"];
type Answer = components["schemas"]["create_purchase_response"];

export const request: CreatePurchase = {
  action: "create_purchase",
  lead_id: "3f6b8f1e-2a4c-4d5e-8b7a-9c0d1e2f3a4b",
  purchase_amount: "12500.50",
  date: "2025-04-01T00:00:00Z",
  trigger_ids: ["2d3e4f5a-6b7c-4d8e-9f0a-1b2c3d4e5f6a"],
};
export const body: Body = request;

export async function createPurchase(url: string, key: string): Promise<Answer> {
  const res = await fetch(url, { method: "POST", headers: { "X-Api-Key": key }, body: JSON.stringify(body) });
  return await res.json() as Answer;
}
export function amount(answer: Answer): number | null {
  return answer.purchase.purchase_amount;
}

// @ts-expect-error lead_id is required
export const noLead: CreatePurchase = { action: "create_purchase" };
// @ts-expect-error purchase_amount is a number or a decimal string
export const badAmount: CreatePurchase = { action: "create_purchase", lead_id: "x", purchase_amount: true };
// @ts-expect-error action names one action
export const otherAction: CreatePurchase = { action: "create_lead", lead_id: "x" };
`,
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["check", "--no-config", "--no-lock", "client.ts"],
      cwd: dir,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, text);
    assert.match(types, /create_purchase: \{/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// The request bodies of the documents' curl examples (`-d '…'`, with `'"$VAR"'` splices) whose
// documented answer is not an error, for typed constants of the generated client.
async function documentedBodies(): Promise<string[]> {
  const bodies: string[] = [];
  for (const file of ["README.md", "docs/guide.md"]) {
    const blocks = [...(await Deno.readTextFile(file)).matchAll(/```(\w+)\n([\s\S]*?)```/g)];
    blocks.forEach(([, lang, text], i) => {
      if (lang !== "sh") return;
      const answer = blocks[i + 1]?.[1] === "json" ? blocks[i + 1][2] : "";
      if (!answer || /"error":/.test(answer)) return;
      for (const [, body] of text.matchAll(/-d '((?:[^']|'"\$\w+"')*)'/g)) {
        // A splice inside quotes stands for an id; a bare one, for a list of ids.
        const id = "00000000-0000-4000-8000-000000000000";
        const literal = body.replaceAll(/"'"\$\w+"'"/g, `"${id}"`).replaceAll(/'"\$\w+"'/g, `["${id}"]`);
        const parsed = JSON.parse(literal);
        if (typeof parsed.action === "string") bodies.push(JSON.stringify(parsed));
      }
    });
  }
  return bodies;
}

Deno.test("the generated client type accepts every request body the README and the guide show", async () => {
  const bodies = await documentedBodies();
  assert.ok(bodies.length >= 20, `${bodies.length} documented bodies`);
  assert.ok(bodies.some((b) => JSON.parse(b).action === "create_purchase"));
  const dir = await Deno.makeTempDir({ prefix: "openapi-typescript-docs-" });
  try {
    await Deno.writeTextFile(`${dir}/openapi.ts`, astToString(await openapiTS(structuredClone(document) as never)));
    await Deno.writeTextFile(
      `${dir}/examples.ts`,
      `import type { paths } from "./openapi.ts";\n` +
        `type Body = paths["/openapi-operations"]["post"]["requestBody"]["content"]["application/json"];\n` +
        bodies.map((body, i) => `export const example${i}: Body = ${body};\n`).join(""),
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["check", "--no-config", "--no-lock", "examples.ts"],
      cwd: dir,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
