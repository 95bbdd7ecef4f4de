// `deno task bench:import-file [--rows 1000000] [--batch 1000] [--leads 1000] [--kill-at 0.5]`: `deno task import`
// of a generated CSV file, end to end. On the configured database (DATABASE_URL, else the embedded one under
// DATA_DIR) it builds the compare bench's channel (projectFixture: a fixed and a percentage purchase trigger) and
// `leads` leads, writes a file of `rows` purchases (each with its own external_id), serves the function
// (dev/serve.ts) and runs the import as a process, sampling its resident memory (/proc/<pid>/status VmHWM, the peak). With --kill-at F (0 < F < 1) the
// first run is killed (SIGKILL) once F of the rows are acknowledged, and the command is run again to resume.
// Prints one JSON line per run and one with the purchases the database holds for the file: every external_id once.
import { parseArgs } from "node:util";
import postgres from "postgres";
import { projectFixture } from "./bench_compare.ts";
import { startServer } from "./cluster.ts";
import { openDatabase } from "./database.ts";
import { pathsOf } from "./import.ts";

const args = parseArgs({
  args: Deno.args,
  options: {
    rows: { type: "string", default: "1000000" },
    batch: { type: "string", default: "1000" },
    leads: { type: "string", default: "1000" },
    "kill-at": { type: "string" },
  },
});
const rows = Number(args.values.rows);
const leads = Number(args.values.leads);
const killAt = args.values["kill-at"] === undefined ? null : Number(args.values["kill-at"]);
if (!(rows > 0) || !(leads > 0) || (killAt !== null && !(killAt > 0 && killAt < 1))) {
  throw new Error("--rows and --leads must be positive, --kill-at between 0 and 1");
}

const database = await openDatabase();
const sql = postgres(database.url, { max: 1, onnotice: () => {} });
const dir = await Deno.makeTempDir({ prefix: "bench-import-file-" });
let server: Deno.ChildProcess | null = null;
try {
  const { key, channelId } = await projectFixture(sql);
  const leadIds = (await sql`
    insert into public.leads (channels_id, email)
    select ${channelId}, 'lead' || n || '@example.com' from generate_series(1, ${leads}) n
    returning id`).map((row) => row.id as string);

  // The file, written in chunks: external_id, lead_id, purchase_amount (exact decimals), date, description.
  const file = `${dir}/sales.csv`;
  const out = await Deno.open(file, { write: true, create: true });
  const encoder = new TextEncoder();
  let chunk = "external_id,lead_id,purchase_amount,date,description\n";
  for (let i = 1; i <= rows; i++) {
    chunk += `order-${i},${leadIds[i % leads]},${(i % 100_000) + 1}.${String(i % 100).padStart(2, "0")},` +
      `2025-04-01T00:00:00Z,Order ${i}\n`;
    if (chunk.length > 1 << 20 || i === rows) {
      const data = encoder.encode(chunk);
      for (let written = 0; written < data.length;) written += await out.write(data.subarray(written));
      chunk = "";
    }
  }
  out.close();
  const fileBytes = (await Deno.stat(file)).size;

  const started = await startServer("./serve.ts", { DATABASE_URL: database.url });
  server = started.process;
  const api = started.url;

  // One run of the import as a process; with `killAfter`, SIGKILL once that many rows are acknowledged.
  const run = async (label: string, killAfter: number | null) => {
    const started = performance.now();
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-net",
        "--allow-read",
        "--allow-write",
        new URL("./import.ts", import.meta.url).pathname,
        "--api",
        api,
        "--key",
        key,
        "--channel",
        channelId,
        "--batch",
        args.values.batch,
        file,
      ],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    let peakKb = 0;
    let acknowledged = 0;
    let exited = false;
    const status = child.status.then((s) => (exited = true, s));
    const output = new Response(child.stdout).text();
    // Progress lines every 5 s; the last few lines say why a run stopped.
    const errors = new Response(child.stderr).text();
    // The resident size (MB) when the acknowledged rows first reach each tenth of the file: flat memory is a flat row.
    const rssByTenth: Record<string, number> = {};
    while (!exited) {
      let rssKb = 0;
      try {
        const status = await Deno.readTextFile(`/proc/${child.pid}/status`);
        peakKb = Math.max(peakKb, Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0));
        rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
      } catch {
        // exiting
      }
      try {
        acknowledged = JSON.parse(await Deno.readTextFile(pathsOf(file).state)).rows;
      } catch {
        // not written yet, being replaced, or removed at the end
      }
      const tenth = `${Math.floor((acknowledged / rows) * 10) * 10}%`;
      if (rssKb && !(tenth in rssByTenth)) rssByTenth[tenth] = Number((rssKb / 1024).toFixed(1));
      if (killAfter !== null && acknowledged >= killAfter) {
        child.kill("SIGKILL");
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const { code } = await status;
    const seconds = (performance.now() - started) / 1000;
    console.log(JSON.stringify({
      run: label,
      exit_code: code,
      killed_after_rows: killAfter === null ? undefined : acknowledged,
      seconds: Number(seconds.toFixed(1)),
      peak_rss_mb: Number((peakKb / 1024).toFixed(1)),
      rss_mb_by_progress: rssByTenth,
      output: (await output).trim(),
      stderr_tail: (await errors).trim().split("\n").slice(-3),
    }));
  };

  const importStarted = performance.now();
  if (killAt !== null) await run("killed", Math.floor(rows * killAt));
  await run(killAt === null ? "import" : "resumed", null);
  const seconds = (performance.now() - importStarted) / 1000;
  const [written] = await sql`
    select count(*)::int as purchases, count(distinct p.external_id)::int as distinct_external_ids
    from public.purchases p join public.leads l on l.id = p.leads_id where l.channels_id = ${channelId}`;
  console.log(JSON.stringify({
    rows,
    file_mb: Number((fileBytes / 1e6).toFixed(1)),
    batch: Number(args.values.batch),
    database: database.embedded ? "embedded PostgreSQL 17" : "DATABASE_URL",
    seconds: Number(seconds.toFixed(1)),
    rows_per_second: Math.round(rows / seconds),
    purchases: written.purchases,
    duplicates: written.purchases - written.distinct_external_ids,
  }));
} finally {
  server?.kill("SIGINT");
  await server?.status;
  await sql.end();
  await database.stop();
  await Deno.remove(dir, { recursive: true });
}
