// `deno task bench --action instructions [--calls 200] [--reference dev/bench_reference]`: the
// CPU instructions one call of a SQL function costs inside PostgreSQL, counted by valgrind's
// callgrind (apt `valgrind`). Unlike timings on these shared 2-core machines, the count is the
// same from run to run, so a change to a migration shows what it bought to within a fraction of
// a percent. The bench starts a throwaway embedded cluster, migrates it, loads the fixture of
// `--action compare` (a channel with a fixed 100 and a 10 % purchase trigger, grown to 10k
// purchases so a listing page is full) and the plain reference of dev/bench_reference, stops the
// cluster, and runs each call in a single-user `postgres --single` under callgrind: 30 warm-up
// calls, then `--calls` more (10 after 10 for get_balances, which reads every reward event of
// the channel); a call costs (total − total of the warm-up alone) / calls.
// Commit's WAL flush is a system call, so the count leaves out the time fsync waits (fsync is
// off here), but not the work of writing the WAL records.
import postgres from "postgres";
import { join } from "node:path";
import { binDir, startCluster } from "./cluster.ts";
import { migrate } from "./migrate.ts";
import {
  type Fixture,
  grow,
  has,
  loadReference,
  projectFixture,
  purchaseRequest,
  REFERENCE_DB,
  sqlCall,
} from "./bench_compare.ts";

const WARM_UP = 30;

interface Case {
  name: string;
  database: string;
  call: string;
  /** Calls counted, when fewer than `--calls` (a call that reads every reward event of the channel). */
  calls?: number;
}

function cases(f: Fixture, reference: string): Case[] {
  return [
    { name: "reference create_purchase", database: REFERENCE_DB, call: reference },
    { name: "create_purchase", database: "postgres", call: sqlCall("create_purchase", f.keyHash, purchaseRequest(f)) },
    {
      name: "get_reward_events page of 100",
      database: "postgres",
      call: sqlCall("get_reward_events", f.keyHash, { channel_id: f.channelId, limit: 100 }),
    },
    {
      name: "get_purchases page of 100",
      database: "postgres",
      call: sqlCall("get_purchases", f.keyHash, { channel_id: f.channelId, limit: 100 }),
    },
    {
      name: "get_leads page of 100",
      database: "postgres",
      call: sqlCall("get_leads", f.keyHash, { channel_id: f.channelId, limit: 100 }),
    },
    {
      name: "get_balances of 20k reward events",
      database: "postgres",
      call: sqlCall("get_balances", f.keyHash, { channel_id: f.channelId }),
      calls: 10,
    },
  ];
}

// Instructions of a single-user backend that prepares `call` and executes it `times` times.
async function instructions(bin: string, dataDir: string, c: Case, times: number): Promise<number> {
  const dir = await Deno.makeTempDir({ prefix: "openapi-operations-callgrind-" });
  try {
    await Deno.chmod(dir, 0o777);
    const out = join(dir, "callgrind.out");
    const input = [`prepare q as ${c.call}`, ...Array(times).fill("execute q"), ""].join("\n");
    const args = [
      "--tool=callgrind",
      `--callgrind-out-file=${out}`,
      join(bin, "postgres"),
      "--single",
      "-D",
      dataDir,
      "-c",
      "fsync=off",
      c.database,
    ];
    const command = Deno.uid() === 0
      ? new Deno.Command("runuser", {
        args: ["-u", "postgres", "--", "valgrind", ...args],
        cwd: "/",
        stdin: "piped",
        stdout: "null",
        stderr: "piped",
      })
      : new Deno.Command("valgrind", { args, cwd: "/", stdin: "piped", stdout: "null", stderr: "piped" });
    const child = command.spawn();
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(input));
    await writer.close();
    const status = await child.output();
    if (!status.success) {
      throw new Error(`valgrind postgres --single failed:\n${new TextDecoder().decode(status.stderr)}`);
    }
    const totals = /^(?:summary|totals): (\d+)/m.exec(await Deno.readTextFile(out));
    if (!totals) throw new Error("callgrind wrote no totals");
    return Number(totals[1]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Prints one JSON line per case: instructions per call, and its ratio to the reference. */
export async function benchInstructions(o: { calls: number; referenceDir: string }): Promise<void> {
  if (!(await has("valgrind"))) throw new Error("valgrind is not installed (apt-get install -y valgrind)");
  const dir = await Deno.makeTempDir({ prefix: "openapi-operations-instructions-" });
  await Deno.chmod(dir, 0o755);
  const dataDir = join(dir, "data");
  try {
    const cluster = await startCluster(dataDir, { fast: true });
    let fixture: Fixture;
    let reference: string;
    try {
      const sql = postgres(cluster.url, { max: 1, onnotice: () => {} });
      await migrate(sql);
      fixture = await projectFixture(sql);
      await grow(sql, fixture, 10_000);
      await sql.end();
      reference = (await Deno.readTextFile((await loadReference(cluster.url, o.referenceDir)).script))
        .trim().replace(/;$/, "");
    } finally {
      await cluster.stop();
    }
    const bin = await binDir();
    let referenceCost = 0;
    for (const c of cases(fixture, reference)) {
      const calls = Math.min(c.calls ?? o.calls, o.calls);
      const warmUp = Math.min(WARM_UP, calls);
      const perCall = Math.round(
        ((await instructions(bin, dataDir, c, warmUp + calls)) - (await instructions(bin, dataDir, c, warmUp))) / calls,
      );
      if (c.database === REFERENCE_DB) referenceCost = perCall;
      console.log(JSON.stringify({
        case: c.name,
        instructions_per_call: perCall,
        ...(c.name === "create_purchase"
          ? { reference_over_this: Math.round((referenceCost / perCall) * 100) / 100 }
          : {}),
      }));
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
