import type postgres from "postgres";

/** One connection of the pool: a postgres.js instance of one connection, and its calls in flight. */
export interface Lane {
  readonly sql: postgres.Sql;
  calls: number;
}

/**
 * A pool that reuses the connection idle the shortest time. postgres.js's own pool hands out
 * the one idle the longest, so at low concurrency every call woke another backend whose caches
 * had gone cold: behind one client, with 16 connections open, a create_purchase answered at
 * p50 1.73-1.83 ms against 0.96-1.01 ms on one connection (docs/operations.md, Benchmarks).
 * Here a call takes the lane released last; when every lane is busy, the one with the fewest
 * calls in flight (postgres.js pipelines them on its connection, as its own pool does). A
 * lane connects on its first call, so a quiet function holds one connection, not `size`.
 */
export class Lanes {
  private readonly lanes: Lane[];
  // Idle lanes; the last released on top.
  private readonly idle: Lane[];

  constructor(size: number, open: () => postgres.Sql) {
    this.lanes = Array.from({ length: size }, () => ({ sql: open(), calls: 0 }));
    this.idle = [...this.lanes].reverse();
  }

  /** The lane for the next call; give it back with release when the call has settled. */
  take(): Lane {
    const lane = this.idle.pop() ?? this.lanes.reduce((a, b) => b.calls < a.calls ? b : a);
    lane.calls++;
    return lane;
  }

  release(lane: Lane): void {
    if (--lane.calls === 0) this.idle.push(lane);
  }

  /** Ends every connection (postgres.js `end`: in-flight calls finish within `timeout` seconds). */
  async end(options: { timeout: number }): Promise<void> {
    await Promise.all(this.lanes.map((lane) => lane.sql.end(options)));
  }
}
