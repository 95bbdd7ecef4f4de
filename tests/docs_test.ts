// Documentation that CI keeps true: the curl (and admin CLI) examples of README.md and
// docs/guide.md run in order against a fresh `deno task start`, each document on its own
// embedded database and demo, and every response must equal what the document shows, except
// for ids, timestamps, API keys and cursors (see dev/doc_examples.ts for the convention).
import assert from "node:assert/strict";
import { join } from "node:path";
import { asShown, comparable, examplesOf, ROOT, runDocument } from "../dev/doc_examples.ts";

for (const file of ["README.md", "docs/guide.md"]) {
  Deno.test(`${file}: every example reproduces against a fresh demo`, async () => {
    const markdown = await Deno.readTextFile(join(ROOT, file));
    const { examples, ran } = await runDocument(markdown);
    assert.ok(examples.length > 0, `${file} has no examples`);
    const failures: string[] = [];
    examples.forEach(({ command, output }, i) => {
      const where = `${file}:${command.start + 1}`;
      const { stdout, stderr } = ran[i];
      if (!output) {
        if (stdout.trim()) failures.push(`${where}: printed output but the document shows none:\n${stdout}`);
        return;
      }
      const expected = comparable(output.body, output.lang);
      const actual = comparable(stdout, output.lang);
      assert.ok(expected !== null, `${where}: the document's json block is not one JSON value`);
      if (actual !== expected) {
        let shown = stdout;
        try {
          shown = asShown(stdout.trim(), output.lang);
        } catch {
          // not JSON: shown as printed
        }
        failures.push(`${where}: the output differs from the document.\n--- ran:\n${shown}\n--- stderr:\n${stderr}`);
      }
    });
    assert.deepEqual(failures, [], failures.join("\n\n"));
  });
}

Deno.test("examplesOf pairs each sh block with the json or text block right after it", () => {
  const markdown = [
    "```sh",
    "curl a",
    "```",
    "",
    "```json",
    '{"a": 1}',
    "```",
    "prose",
    "```sh",
    "X=1",
    "```",
    "more prose",
    "```text",
    "not an output",
    "```",
    "```sh",
    "echo $X",
    "```",
    "```text",
    "1",
    "```",
  ].join("\n");
  assert.deepEqual(examplesOf(markdown).map((e) => [e.command.body, e.output?.lang, e.output?.body]), [
    ["curl a", "json", '{"a": 1}'],
    ["X=1", undefined, undefined],
    ["echo $X", "text", "1"],
  ]);
});

Deno.test("comparable ignores ids, timestamps, keys and cursors, never numbers or key order", () => {
  const shown = comparable(
    '{"id": "5b0e7f52-7f1e-4d7c-9a51-52b3b1c2d3e4", "at": "2026-11-26T07:16:35.598Z", "amount": 1250.00, ' +
      '"next_cursor": "MjAy", "key": "sk_' + "a".repeat(43) + '"}',
    "json",
  );
  assert.equal(
    comparable(
      '{"id": "0a6e4d55-0000-4000-8000-000000000000", "at": "2027-01-01T00:00:00.000Z", "amount": 1250.00, ' +
        '"next_cursor": "other", "key": "sk_' + "b".repeat(43) + '"}',
      "json",
    ),
    shown,
  );
  assert.notEqual(comparable('{"id": "x", "at": "y", "amount": 1250, "next_cursor": "", "key": ""}', "json"), shown);
  assert.notEqual(comparable('{"b": 1, "a": 2}', "json"), comparable('{"a": 2, "b": 1}', "json"));
  assert.equal(
    comparable("HTTP/1.1 200 OK\r\nx-request-id: 5B0E7F52-7F1E-4D7C-9A51-52B3B1C2D3E4\r\n", "text"),
    [
      "HTTP/1.1 200 OK",
      "x-request-id: <uuid>",
    ].join("\n"),
  );
});
