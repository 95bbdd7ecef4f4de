// `deno task import`: its file reading and batching on real files, and the command as a process against the real
// handler served on 127.0.0.1 over the real database: refused rows, re-runs, a retried batch, a kill and a resume.
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { batches, countLines, csvSource, jsonlSource, MAX_BODY_BYTES, type Row } from "../dev/import.ts";
import { ops, serveHandler, testEnv, world } from "./helpers.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const PROGRESS_LINE = /^progress: \d+\/\d+ rows \(\d+%\), \d+ rows\/s, ETA \S+$/;

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
}

interface Run {
  code: number;
  stdout: string[];
  /** stderr without `deno task`'s own first line. */
  stderr: string[];
}

function lines(bytes: Uint8Array): string[] {
  const text = new TextDecoder().decode(bytes).trimEnd();
  return text ? text.split("\n") : [];
}

function importArgs(api: string, key: string, channel: string, file: string, extra: string[] = []) {
  return ["task", "import", "--api", api, "--key", key, "--channel", channel, ...extra, file];
}

function importProcess(args: string[]) {
  return new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
}

/** Runs `deno task import` (stdout and stderr are pipes, not terminals). */
async function runImport(args: string[]): Promise<Run> {
  const out = await importProcess(args).output();
  const stderr = lines(out.stderr);
  assert.match(stderr[0] ?? "", /^Task import /);
  return { code: out.code, stdout: lines(out.stdout), stderr: stderr.slice(1) };
}

/** The totals line, with the rate (wall-clock) replaced. */
function totals(run: Run): string {
  return run.stdout[0].replace(/, \d+ rows\/s$/, ", N rows/s");
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

Deno.test("deno task import: reading files", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "import-command-" });
  try {
    await t.step(
      "CSV: a BOM, quoted fields across lines, blank lines, short and long rows, ignored columns",
      async () => {
        const file = join(dir, "rows.csv");
        await Deno.writeTextFile(
          file,
          "\ufeffexternal_id, lead_id ,purchase_amount,trigger_ids,note\n" +
            "o-1,L1,2852199.999999999999,,x\n" +
            "\n" +
            '"o-2","L2","0.000000000001","T1; T2","a ""quoted""\nnote"\n' +
            "o-3,L3\n" +
            "o-4,L4,1,[],x,y\n" +
            "o-5,L5,,[],x",
        );
        const source = await csvSource(file);
        assert.deepEqual(source.errorsHeader, [
          "external_id",
          "lead_id",
          "purchase_amount",
          "trigger_ids",
          "note",
          "line",
          "code",
          "error",
        ]);
        assert.deepEqual(source.ignored, ["note"]);
        const rows = await collect(source.rows);
        assert.deepEqual(rows, [
          {
            line: 2,
            original: ["o-1", "L1", "2852199.999999999999", "", "x"],
            json: '{"external_id":"o-1","lead_id":"L1","purchase_amount":"2852199.999999999999"}',
          },
          {
            line: 4,
            original: ["o-2", "L2", "0.000000000001", "T1; T2", 'a "quoted"\nnote'],
            json: '{"external_id":"o-2","lead_id":"L2","purchase_amount":"0.000000000001","trigger_ids":["T1","T2"]}',
          },
          {
            line: 6,
            original: ["o-3", "L3", "", "", ""],
            extra: [],
            refused: { code: "invalid_row", error: "Row has 2 fields, the header has 5" },
          },
          {
            line: 7,
            original: ["o-4", "L4", "1", "[]", "x"],
            extra: ["y"],
            refused: { code: "invalid_row", error: "Row has 6 fields, the header has 5" },
          },
          {
            line: 8,
            original: ["o-5", "L5", "", "[]", "x"],
            json: '{"external_id":"o-5","lead_id":"L5","trigger_ids":[]}',
          },
        ]);
      },
    );

    await t.step("CSV: a header without lead_id or external_id, or repeating a column, is refused", async () => {
      const file = join(dir, "header.csv");
      await Deno.writeTextFile(file, "lead_id,purchase_amount\nL1,1\n");
      await assert.rejects(() => csvSource(file), { message: `${file}: the header has no external_id column` });
      await Deno.writeTextFile(file, "lead_id,external_id,lead_id\n");
      await assert.rejects(() => csvSource(file), { message: `${file}: the header repeats lead_id` });
      await Deno.writeTextFile(file, "");
      await assert.rejects(() => csvSource(file), { message: `${file} is empty: it needs a header row` });
    });

    await t.step("CSV: a file that is not valid CSV stops the reading at the bad record", async () => {
      const file = join(dir, "broken.csv");
      await Deno.writeTextFile(file, 'external_id,lead_id\no-1,L1\n"o-2,L2\n');
      const source = await csvSource(file);
      const seen: Row[] = [];
      await assert.rejects(async () => {
        for await (const row of source.rows) seen.push(row);
      }, (error: Error) => error.message.startsWith(`${file} is not valid CSV: `));
      assert.deepEqual(seen.map((row) => row.line), [2]);
    });

    await t.step("JSON Lines: numbers keep every digit; lines that are not JSON objects are refused here", async () => {
      const file = join(dir, "rows.jsonl");
      await Deno.writeTextFile(
        file,
        '{"external_id":"o-1","lead_id":"L1","purchase_amount":2852199.999999999999,"extra":{"n":1.5e3}}\n' +
          "\n" +
          "{not json\n" +
          "[1,2]\n" +
          '{"external_id":"o-2","purchase_amount":1.00000000000000001e11}\r\n',
      );
      const source = jsonlSource(file);
      assert.deepEqual(source.errorsHeader, ["json", "line", "code", "error"]);
      assert.deepEqual(await collect(source.rows), [
        {
          line: 1,
          original: [
            '{"external_id":"o-1","lead_id":"L1","purchase_amount":2852199.999999999999,"extra":{"n":1.5e3}}',
          ],
          json: '{"external_id":"o-1","lead_id":"L1","purchase_amount":2852199.999999999999,"extra":{"n":1.5e3}}',
        },
        { line: 3, original: ["{not json"], refused: { code: "invalid_json", error: "Line is not valid JSON" } },
        { line: 4, original: ["[1,2]"], refused: { code: "invalid_json", error: "Line is not a JSON object" } },
        {
          line: 5,
          original: ['{"external_id":"o-2","purchase_amount":1.00000000000000001e11}'],
          json: '{"external_id":"o-2","purchase_amount":1.00000000000000001e11}',
        },
      ]);
    });

    await t.step("batches: at most N rows and the body budget; skipping the rows an earlier run answered", async () => {
      const rows = (count: number, json = "{}") =>
        (async function* () {
          for (let i = 0; i < count; i++) yield { line: i + 2, original: [], json } as Row;
        })();
      const shape = (all: { start: number; rows: Row[] }[]) => all.map((b) => [b.start, b.rows.length]);
      assert.deepEqual(shape(await collect(batches(rows(7), 3))), [[0, 3], [3, 3], [6, 1]]);
      assert.deepEqual(shape(await collect(batches(rows(7), 3, 5))), [[5, 2]]);
      assert.deepEqual(shape(await collect(batches(rows(7), 3, 7))), []);
      // 1,000 rows of 2,000 bytes would be a 2 MB body: cut at the budget instead.
      const big = `{"description":"${"é".repeat(999)}"}`;
      const cut = await collect(batches(rows(1000, big), 1000));
      const perBatch = Math.floor((MAX_BODY_BYTES - 200) / 2018);
      assert.deepEqual(cut[0].rows.length, perBatch);
      assert.equal(cut.reduce((n, b) => n + b.rows.length, 0), 1000);
      // A row no request can carry is refused here; it rides along unsent.
      const huge = `{"description":"${"x".repeat(MAX_BODY_BYTES)}"}`;
      const [alone] = await collect(batches(rows(1, huge), 10));
      assert.deepEqual(alone.rows, [{
        line: 2,
        original: [],
        json: undefined,
        refused: { code: "row_too_large", error: "Row is larger than the API's 1 MiB request limit" },
      }]);
    });

    await t.step("batches: when reading fails, the rows read so far are a batch before the error", async () => {
      const failing = (async function* () {
        for (let i = 0; i < 5; i++) yield { line: i + 2, original: [], json: "{}" } as Row;
        throw new Error("bad file");
      })();
      const seen: [number, number][] = [];
      await assert.rejects(async () => {
        for await (const batch of batches(failing, 2)) seen.push([batch.start, batch.rows.length]);
      }, { message: "bad file" });
      assert.deepEqual(seen, [[0, 2], [2, 2], [4, 1]]);
    });

    await t.step("countLines: newlines, plus an unterminated last line", async () => {
      const file = join(dir, "count.txt");
      await Deno.writeTextFile(file, "a\nb\n\nc");
      assert.equal(await countLines(file), 4);
      await Deno.writeTextFile(file, "a\n");
      assert.equal(await countLines(file), 1);
      await Deno.writeTextFile(file, "");
      assert.equal(await countLines(file), 0);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deno task import", async (t) => {
  const env = testEnv();
  const { sql } = env;
  // A front for the real handler that can lose a response after the handler has done the work (a gateway's 502),
  // or answer 503 for requests of more than `maxRows` rows before they reach it (the API's deadline).
  let loseResponse: ((body: string) => boolean) | null = null;
  let maxRows = Infinity;
  const seenRows: number[] = [];
  const server = serveHandler(async (req) => {
    const body = await req.text();
    const rows = (body.match(/"external_id"/g) ?? []).length;
    seenRows.push(rows);
    if (rows > maxRows) {
      return Response.json({ error: "Service unavailable", code: "service_unavailable" }, {
        status: 503,
        headers: { "Retry-After": "1" },
      });
    }
    const res = await env.handler(new Request(req.url, { method: req.method, headers: req.headers, body }));
    if (loseResponse?.(body)) {
      loseResponse = null;
      await res.body?.cancel();
      return new Response("Bad gateway", { status: 502 });
    }
    return res;
  });
  const dir = await Deno.makeTempDir({ prefix: "import-command-" });
  try {
    const w = await world(sql);
    const api = server.url;
    const key = w.receiving.key;
    const channel = w.channelId;
    const otherProduct = await ops.createProduct(sql, { company: w.outsider.id, name: "Theirs" });
    const otherWorld = await world(sql);
    const purchasesOf = async (leadId: string) => [
      ...await sql`select external_id, purchase_amount::text as amount, products_id, description from public.purchases
          where leads_id = ${leadId} order by external_id`,
    ];

    await t.step("usage errors exit 2 and send nothing", async () => {
      const file = join(dir, "usage.csv");
      await Deno.writeTextFile(file, "lead_id,purchase_amount\nL1,1\n");
      const cases: [string[], string][] = [
        [["task", "import", file], "error: --api must be an http(s) URL"],
        [importArgs("ftp://x", key, channel, file), "error: --api must be an http(s) URL"],
        [importArgs(api, key, "c-1", file), "error: --channel must be a UUID"],
        [importArgs(api, key, channel, file, ["--batch", "1001"]), "error: --batch must be an integer from 1 to 1000"],
        [
          importArgs(api, key, channel, join(dir, "rows.txt")),
          `error: cannot tell the format of ${
            join(dir, "rows.txt")
          } by its extension: use --format csv or --format jsonl`,
        ],
        [importArgs(api, key, channel, join(dir, "missing.csv")), `error: cannot read ${join(dir, "missing.csv")}: `],
        [importArgs(api, key, channel, file), `error: ${file}: the header has no external_id column`],
        [["task", "import", "--api", api, "--nope", file], "error: Unknown option '--nope'"],
      ];
      for (const [args, message] of cases) {
        const run = await runImport(args);
        assert.equal(run.code, 2, run.stderr.join("\n"));
        assert.ok(run.stderr[0].startsWith(message), `${run.stderr[0]} (expected ${message})`);
        assert.match(run.stderr[1], /^usage: deno task import --api URL --key KEY --channel ID/);
        assert.deepEqual(run.stdout, []);
      }
      assert.equal(await exists(`${file}.import-state`), false);
      assert.deepEqual(await purchasesOf(w.leadId), []);
      const help = await runImport(["task", "import", "--help"]);
      assert.equal(help.code, 0);
      assert.match(help.stdout[0], /^usage: deno task import --api URL --key KEY --channel ID/);
    });

    const file = join(dir, "orders.csv");
    const errorsFile = `${file}.errors.csv`;
    const expectedErrors = [
      "external_id,lead_id,product_id,purchase_amount,date,description,line,code,error",
      `o-3,not-a-lead,,10,,,4,invalid_request,lead_id must be a UUID`,
      `,${w.leadId},,10,,,5,invalid_request,external_id required`,
      `o-4,${w.leadId},,-5,,,6,invalid_request,purchase_amount must be a non-negative number`,
      `o-5,${w.leadId},,10,yesterday,,7,invalid_request,date must be an ISO 8601 timestamp`,
      `o-6,${otherWorld.leadId},,10,,,8,lead_not_accessible,Lead not accessible`,
      `o-7,${w.leadId},${otherProduct.id},10,,,9,product_not_owned,Product not found or not owned by your company`,
      `o-8,${w.leadId},,,,,11,invalid_row,"Row has 3 fields, the header has 6"`,
      "",
    ].join("\n");
    const expectedPurchases = [
      { external_id: "o-1", amount: "249.99", products_id: w.productId, description: "Pro plan, yearly" },
      { external_id: "o-2", amount: "2852199.999999999999", products_id: null, description: null },
      { external_id: "o-9", amount: "0.000000000001", products_id: null, description: 'a "quoted"\nnote' },
    ];

    await t.step("a file with refused rows: exit 1, the totals, FILE.errors.csv and the rows written", async () => {
      await Deno.writeTextFile(
        file,
        [
          "external_id,lead_id,product_id,purchase_amount,date,description",
          `o-1,${w.leadId},${w.productId},249.99,2025-04-01T09:30:00Z,"Pro plan, yearly"`,
          `o-2,${w.leadId},,2852199.999999999999,2025-04-02,`,
          `o-3,not-a-lead,,10,,`,
          `,${w.leadId},,10,,`,
          `o-4,${w.leadId},,-5,,`,
          `o-5,${w.leadId},,10,yesterday,`,
          `o-6,${otherWorld.leadId},,10,,`,
          `o-7,${w.leadId},${otherProduct.id},10,,`,
          `o-1,${w.leadId},,1,,`,
          `o-8,${w.leadId},`,
          `o-9,${w.leadId},,0.000000000001,2025-04-03,"a ""quoted""`,
          `note"`,
          "",
        ].join("\n"),
      );
      const run = await runImport(importArgs(api, key, channel, file, ["--batch", "4"]));
      assert.equal(run.code, 1, run.stderr.join("\n"));
      assert.equal(totals(run), "rows 11, created 3, duplicates 1, errors 7, N rows/s");
      assert.deepEqual(run.stdout.slice(1), [`refused rows: ${errorsFile}`]);
      // Not a terminal: plain progress lines, the last one complete (12 lines counted, 11 rows found).
      assert.ok(run.stderr.length >= 1);
      for (const line of run.stderr) assert.match(line, PROGRESS_LINE);
      assert.match(run.stderr.at(-1)!, /^progress: 11\/11 rows \(100%\), \d+ rows\/s, ETA 0s$/);
      assert.equal(await Deno.readTextFile(errorsFile), expectedErrors);
      assert.deepEqual(await purchasesOf(w.leadId), expectedPurchases);
      assert.equal(await exists(`${file}.import-state`), false);
    });

    await t.step("the same file again: nothing written twice, duplicates reported, the same errors file", async () => {
      const run = await runImport(importArgs(api, key, channel, file));
      assert.equal(run.code, 1, run.stderr.join("\n"));
      assert.equal(totals(run), "rows 11, created 0, duplicates 4, errors 7, N rows/s");
      assert.equal(await Deno.readTextFile(errorsFile), expectedErrors);
      assert.deepEqual(await purchasesOf(w.leadId), expectedPurchases);
      const [events] = await sql`select count(*)::int as n from public.events
        where leads_id = ${w.leadId} and category = 'purchase'`;
      assert.equal(events.n, 3);
    });

    await t.step("JSON Lines: exact numbers, refused lines, an errors file with the line's text", async () => {
      const lead = await ops.createLead(sql, { channel, email: "jsonl@example.com" });
      const jsonl = join(dir, "orders.ndjson");
      await Deno.writeTextFile(
        jsonl,
        [
          `{"external_id":"j-1","lead_id":"${lead.id}","purchase_amount":2852199.999999999999}`,
          `{"external_id":"j-2","lead_id":"${lead.id}","purchase_amount":1.5e3,"product_name":"Custom"}`,
          "",
          `{"external_id":"j-3","lead_id":"${lead.id}","purchase_amount":-1}`,
          `{"external_id":"j-4",`,
          `{"external_id":"j-1","lead_id":"${lead.id}"}`,
        ].join("\n"),
      );
      const run = await runImport(importArgs(api, key, channel, jsonl));
      assert.equal(run.code, 1, run.stderr.join("\n"));
      assert.equal(totals(run), "rows 5, created 2, duplicates 1, errors 2, N rows/s");
      assert.equal(
        await Deno.readTextFile(`${jsonl}.errors.csv`),
        [
          "json,line,code,error",
          `"{""external_id"":""j-3"",""lead_id"":""${lead.id}"",""purchase_amount"":-1}",4,invalid_request,purchase_amount must be a non-negative number`,
          `"{""external_id"":""j-4"",",5,invalid_json,Line is not valid JSON`,
          "",
        ].join("\n"),
      );
      const rows = [
        ...await sql`select external_id, purchase_amount::text as amount, name from public.purchases
          where leads_id = ${lead.id as string} order by external_id`,
      ];
      assert.deepEqual(rows, [
        { external_id: "j-1", amount: "2852199.999999999999", name: null },
        { external_id: "j-2", amount: "1500", name: "Custom" },
      ]);
    });

    const many = join(dir, "many.csv");
    const manyLead = await ops.createLead(sql, { channel, email: "many@example.com" });
    const manyRows = 3000;
    await Deno.writeTextFile(
      many,
      "external_id,lead_id,purchase_amount\n" +
        Array.from(
          { length: manyRows },
          (_, i) => `m-${i + 1},${manyLead.id},${(i + 1) % 250 ? `${i + 1}.50` : "-1"}\n`,
        )
          .join(""),
    );
    const manyWritten = async () => {
      const [row] = await sql`select count(*)::int as purchases, count(distinct external_id)::int as distinct_ids,
        coalesce(sum(purchase_amount), 0)::numeric(20, 2)::text as amount from public.purchases where leads_id = ${manyLead
        .id as string}`;
      return { ...row };
    };
    // m-i costs i.50, except every 250th, refused for its amount of -1: 1 + 2 + … + 3000 plus 3000 halves, less
    // 250 + 500 + … + 3000 and their 12 halves.
    const manyExpected = { purchases: 2988, distinct_ids: 2988, amount: "4483494.00" };
    const manyErrors = [
      "external_id,lead_id,purchase_amount,line,code,error",
      ...Array.from({ length: 12 }, (_, k) => (k + 1) * 250).map((i) =>
        `m-${i},${manyLead.id},-1,${i + 1},invalid_request,purchase_amount must be a non-negative number`
      ),
      "",
    ].join("\n");

    await t.step(
      "killed half-way and run again: it resumes, every row once, each refused row listed once",
      async () => {
        // dev/import.ts itself, not `deno task`, whose process would die while the import runs on.
        const args = importArgs(api, key, channel, many, ["--batch", "100"]).slice(2);
        const child = importProcess(["run", "--allow-net", "--allow-read", "--allow-write", "dev/import.ts", ...args])
          .spawn();
        let exited = false;
        child.status.then(() => exited = true);
        const statePath = `${many}.import-state`;
        let acknowledged = 0;
        while (acknowledged < 1000) {
          assert.equal(exited, false, "the import ended before it was killed");
          await new Promise((resolve) => setTimeout(resolve, 10));
          try {
            acknowledged = JSON.parse(await Deno.readTextFile(statePath)).rows;
          } catch {
            // not written yet, or being replaced
          }
        }
        child.kill("SIGKILL");
        const killed = await child.output();
        assert.notEqual(killed.code, 0);
        const state = JSON.parse(await Deno.readTextFile(statePath));
        assert.ok(state.rows >= 1000 && state.rows < manyRows, `killed after ${state.rows} rows`);
        const before = await manyWritten();
        assert.ok(before.purchases < 2988 && before.purchases >= state.created);

        const run = await runImport(importArgs(api, key, channel, many, ["--batch", "100"]));
        assert.equal(run.code, 1, run.stderr.join("\n"));
        assert.equal(run.stderr[0], `resuming after row ${state.rows} (${statePath})`);
        for (const line of run.stderr.slice(1)) assert.match(line, PROGRESS_LINE);
        assert.match(run.stderr.at(-1)!, /^progress: 3000\/3000 rows \(100%\)/);
        // The batch in flight at the kill is sent again under its Idempotency-Key: replayed, so created, not duplicate.
        assert.equal(totals(run), "rows 3000, created 2988, duplicates 0, errors 12, N rows/s");
        assert.deepEqual(run.stdout.slice(1), [`refused rows: ${many}.errors.csv`]);
        assert.deepEqual(await manyWritten(), manyExpected);
        assert.equal(await Deno.readTextFile(`${many}.errors.csv`), manyErrors);
        assert.equal(await exists(statePath), false);
      },
    );

    await t.step(
      "a batch whose response was lost (502) is retried under its Idempotency-Key and replayed",
      async () => {
        const lead = await ops.createLead(sql, { channel, email: "retry@example.com" });
        const retry = join(dir, "retry.csv");
        await Deno.writeTextFile(
          retry,
          "external_id,lead_id,purchase_amount\n" +
            Array.from({ length: 6 }, (_, i) => `r-${i + 1},${lead.id},1\n`).join(""),
        );
        loseResponse = (body) => body.includes('"r-3"');
        const run = await runImport(importArgs(api, key, channel, retry, ["--batch", "2"]));
        assert.equal(run.code, 0, run.stderr.join("\n"));
        assert.deepEqual(run.stderr.filter((line) => !PROGRESS_LINE.test(line)), [
          "rows 3-4: 502 Bad gateway; retrying in 0.5 s",
        ]);
        assert.equal(totals(run), "rows 6, created 6, duplicates 0, errors 0, N rows/s");
        const [row] = await sql`select count(*)::int as n from public.purchases where leads_id = ${lead.id as string}`;
        assert.equal(row.n, 6);
      },
    );

    await t.step("503 for large requests: fewer rows per request until they pass, every row once", async () => {
      const lead = await ops.createLead(sql, { channel, email: "slow@example.com" });
      const slow = join(dir, "slow.csv");
      await Deno.writeTextFile(
        slow,
        "external_id,lead_id,purchase_amount\n" +
          Array.from({ length: 10 }, (_, i) => `s-${i + 1},${lead.id},1\n`).join(""),
      );
      maxRows = 2;
      seenRows.length = 0;
      try {
        const run = await runImport(importArgs(api, key, channel, slow, ["--batch", "8"]));
        assert.equal(run.code, 0, run.stderr.join("\n"));
        assert.deepEqual(run.stderr.filter((line) => !PROGRESS_LINE.test(line)), [
          "rows 1-8: 503 Service unavailable (service_unavailable); sending 4 rows per request",
          "rows 1-4: 503 Service unavailable (service_unavailable); sending 2 rows per request",
        ]);
        assert.equal(totals(run), "rows 10, created 10, duplicates 0, errors 0, N rows/s");
        assert.deepEqual(seenRows, [8, 4, 2, 2, 2, 2, 2]);
      } finally {
        maxRows = Infinity;
      }
      const [row] = await sql`select count(*)::int as n, count(distinct external_id)::int as ids
        from public.purchases where leads_id = ${lead.id as string}`;
      assert.deepEqual({ ...row }, { n: 10, ids: 10 });
    });

    await t.step("the API refusing a whole batch stops the import: exit 1, nothing written", async () => {
      const lead = await ops.createLead(sql, { channel, email: "refused@example.com" });
      const refused = join(dir, "refused.csv");
      await Deno.writeTextFile(refused, `external_id,lead_id,purchase_amount\nx-1,${lead.id},1\n`);
      const run = await runImport(importArgs(api, w.outsider.key, channel, refused));
      assert.equal(run.code, 1);
      assert.deepEqual(run.stdout, ["rows 0, created 0, duplicates 0, errors 0, 0 rows/s"]);
      assert.deepEqual(run.stderr, [
        "error: the API refused rows 1-1: 403 Channel not accessible (channel_not_accessible)",
        `stopped after row 0: run the same command again to resume (${refused}.import-state)`,
      ]);
      const [row] = await sql`select count(*)::int as n from public.purchases where leads_id = ${lead.id as string}`;
      assert.equal(row.n, 0);
    });

    await t.step(
      "a file that stops being valid CSV: the rows before it recorded, exit 1; fixed, it starts over",
      async () => {
        const lead = await ops.createLead(sql, { channel, email: "broken@example.com" });
        const broken = join(dir, "broken.csv");
        const good = `external_id,lead_id,purchase_amount\nb-1,${lead.id},1\nb-2,${lead.id},2\n`;
        await Deno.writeTextFile(broken, `${good}"b-3,${lead.id},3\n`);
        const run = await runImport(importArgs(api, key, channel, broken));
        assert.equal(run.code, 1);
        assert.equal(totals(run), "rows 2, created 2, duplicates 0, errors 0, N rows/s");
        const problems = run.stderr.filter((line) => !PROGRESS_LINE.test(line));
        assert.equal(problems.length, 2, problems.join("\n"));
        assert.ok(problems[0].startsWith(`error: ${broken} is not valid CSV: `), problems[0]);
        assert.equal(problems[1], `stopped after row 2: run the same command again to resume (${broken}.import-state)`);
        assert.equal(JSON.parse(await Deno.readTextFile(`${broken}.import-state`)).rows, 2);

        await Deno.writeTextFile(broken, `${good}b-3,${lead.id},3\n`);
        const fixed = await runImport(importArgs(api, key, channel, broken));
        assert.equal(fixed.code, 0, fixed.stderr.join("\n"));
        assert.equal(
          fixed.stderr[0],
          `${broken}.import-state: not resuming, the file changed since the interrupted run: starting over`,
        );
        assert.equal(totals(fixed), "rows 3, created 1, duplicates 2, errors 0, N rows/s");
        const rows = [
          ...await sql`select external_id, purchase_amount::text as amount from public.purchases
          where leads_id = ${lead.id as string} order by external_id`,
        ];
        assert.deepEqual(rows, [
          { external_id: "b-1", amount: "1" },
          { external_id: "b-2", amount: "2" },
          { external_id: "b-3", amount: "3" },
        ]);
        assert.equal(await exists(`${broken}.import-state`), false);
      },
    );
  } finally {
    await server.stop();
    await env.close();
    await Deno.remove(dir, { recursive: true });
  }
});
