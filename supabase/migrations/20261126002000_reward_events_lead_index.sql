-- get_reward_events filtered by lead_id (API.md) had no index since 20261126001300 dropped
-- reward_events (leads_id): its page scanned every reward event of the table, 127 ms at 400k
-- rows (embedded PostgreSQL 17, EXPLAIN ANALYZE), growing with the table. This index serves that
-- page in its order, from the cursor on. Its cost to create_purchase (one more index entry per
-- reward) is in docs/operations.md, "Benchmarks".
create index reward_events_lead_idx on public.reward_events (leads_id, created_at desc, id desc);
