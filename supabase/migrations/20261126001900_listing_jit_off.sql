-- Listings without JIT compilation (issue 10). The generic plan of a page cannot know its LIMIT
-- (v_limit + 1 is a parameter), so PostgreSQL estimates it as a tenth of the channel's rows: at
-- 1M rows that estimate passes jit_above_cost, and a server with JIT (Debian's PostgreSQL 15
-- here) compiled the plan at every call, 180-290 ms per page of reward events or leads instead
-- of 0.6-1.3 ms (pgbench -M prepared, 1 concurrent). A page is at most 101 rows: JIT never pays
-- for itself there.
alter function public.get_reward_events(text, jsonb) set jit = off;
alter function public.get_purchases(text, jsonb) set jit = off;
alter function public.get_leads(text, jsonb) set jit = off;
alter function public.get_payouts(text, jsonb) set jit = off;
