-- Money-safe writes: idempotency keys, refunds that reverse rewards, and listings of purchases
-- and reward events.

-- ---------------------------------------------------------------------------------------
-- Schema
-- ---------------------------------------------------------------------------------------

-- One row per (company, Idempotency-Key): claimed, executed and answered in the same
-- transaction as the action, so only successful requests leave a row. `response` is json,
-- not jsonb, so a replay returns the very same bytes.
create table public.idempotency_keys (
  companies_id uuid not null references public.companies (id) on delete cascade,
  key text not null,
  action text not null,
  fingerprint text not null,
  status integer,
  response json,
  created_at timestamptz not null default now(),
  primary key (companies_id, key)
);
create index idempotency_keys_created_at_idx on public.idempotency_keys (created_at);
alter table public.idempotency_keys enable row level security;
revoke all on public.idempotency_keys from anon, authenticated;

-- ---------------------------------------------------------------------------------------
-- Idempotency
-- ---------------------------------------------------------------------------------------

-- The retention window: a key is kept, and replays, at least this long.
create function internal.idempotency_retention()
returns interval
language plpgsql
immutable
set search_path = ''
as $$
begin
  return interval '24 hours';
end;
$$;
revoke execute on function internal.idempotency_retention() from public;

-- internal.purge_idempotency_keys(): deletes keys past the retention window; returns how
-- many. Run hourly by pg_cron on Supabase and by the local server.
create function internal.purge_idempotency_keys()
returns integer
language plpgsql
set search_path = ''
as $$
declare
  v_count integer;
begin
  delete from public.idempotency_keys k where k.created_at < now() - internal.idempotency_retention();
  get diagnostics v_count = row_count;
  return v_count;
end;
$$;
revoke execute on function internal.purge_idempotency_keys() from public;

-- public.idempotent(key_hash, action, args, idempotency_key, fingerprint): runs a write
-- action at most once per (company, idempotency_key). The first request claims the key,
-- runs public.<action>(key_hash, args) and stores its response, all in this transaction: if
-- the action fails, the claim disappears with it and a retry runs normally. A concurrent
-- duplicate waits on the claim and then replays. A retry of the same request (same
-- fingerprint: a hash of the action and its canonical, validated body) returns the stored
-- response; another request with the same key gets 422.
-- Returns {"replayed": bool, "status": 200, "body": <the action's response>}.
create function public.idempotent(
  key_hash text,
  action text,
  args jsonb,
  idempotency_key text,
  fingerprint text
)
returns json
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_company uuid := internal.company_for_key(key_hash);
  v_claim public.idempotency_keys;
  v_body json;
begin
  if action is null or action <> all (array['create_purchase', 'create_purchase_custom', 'create_lead',
    'update_lead', 'update_status', 'update_status_id', 'refund_purchase']) then
    perform internal.fail(400, 'invalid_request', 'Idempotency-Key is not supported for this action');
  end if;

  -- An expired key is free again, whether or not the purge has run yet.
  delete from public.idempotency_keys k
  where k.companies_id = v_company and k.key = idempotency_key
    and k.created_at < now() - internal.idempotency_retention();

  insert into public.idempotency_keys (companies_id, key, action, fingerprint)
  values (v_company, idempotency_key, action, fingerprint)
  on conflict (companies_id, key) do nothing;
  if not found then
    select k.* into v_claim from public.idempotency_keys k
    where k.companies_id = v_company and k.key = idempotency_key;
    if v_claim.fingerprint <> fingerprint then
      perform internal.fail(422, 'idempotency_key_reused', 'Idempotency-Key reused with a different request');
    end if;
    return json_build_object('replayed', true, 'status', v_claim.status, 'body', v_claim.response);
  end if;

  execute format('select public.%I($1, $2)', action) into v_body using key_hash, args;
  update public.idempotency_keys k set status = 200, response = v_body
  where k.companies_id = v_company and k.key = idempotency_key;
  return json_build_object('replayed', false, 'status', 200, 'body', v_body);
end;
$$;
revoke execute on function public.idempotent(text, text, jsonb, text, text) from public, anon, authenticated;
grant execute on function public.idempotent(text, text, jsonb, text, text) to service_role;

-- On Supabase, pg_cron purges expired keys hourly. Where pg_cron cannot be created (plain
-- PostgreSQL without it in shared_preload_libraries) this is skipped; the local server
-- purges on a timer instead.
do $$
begin
  create extension if not exists pg_cron;
  perform cron.schedule('purge-idempotency-keys', '17 * * * *', 'select internal.purge_idempotency_keys()');
exception
  -- Not installed (no control file), not preloaded, or not supported here.
  when undefined_file or object_not_in_prerequisite_state or feature_not_supported then
    raise notice 'pg_cron not available, idempotency keys are purged by the server: %', sqlerrm;
end;
$$;

-- ---------------------------------------------------------------------------------------
-- Refunds
-- ---------------------------------------------------------------------------------------

-- public.refund_purchase(key_hash, args): records a refund of a purchase and reverses its
-- rewards. args: purchase_id (required), amount (default: all that is not yet refunded),
-- reason. Percentage rewards are reversed in proportion to the refunded amount, computed on
-- the cumulative refund (round(rate × refunded so far × 0.01) minus what earlier refunds
-- reversed), so the reversals of a full refund add up to exactly the original reward; fixed
-- rewards are reversed when the purchase becomes fully refunded. The purchase row is locked,
-- so concurrent refunds never exceed its amount. Returns {"refund": {...}, "reward_events": [...]}.
-- Errors: 403 Purchase not accessible; 400 Refund exceeds refundable amount.
create function public.refund_purchase(key_hash text, args jsonb)
returns json
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_company uuid := internal.company_for_key(key_hash);
  v_purchase public.purchases;
  v_channel public.channels;
  v_refunded numeric;
  v_refund_count integer;
  v_total numeric;
  v_amount numeric;
  v_refund public.refunds;
  v_event_id uuid;
  v_rewards json;
begin
  select p.* into v_purchase from public.purchases p where p.id = (args ->> 'purchase_id')::uuid;
  select c.* into v_channel from public.channels c where c.id = v_purchase.channels_id;
  if v_purchase.id is null or not internal.can_access(v_channel, v_company) then
    perform internal.fail(403, 'purchase_not_accessible', 'Purchase not accessible');
  end if;
  perform 1 from public.purchases p where p.id = v_purchase.id for update;

  select coalesce(sum(r.amount), 0), count(*) into v_refunded, v_refund_count
  from public.refunds r where r.purchases_id = v_purchase.id;
  v_total := coalesce(v_purchase.purchase_amount, 0);
  v_amount := coalesce((args ->> 'amount')::numeric, v_total - v_refunded);
  if v_amount > v_total - v_refunded or (v_refund_count > 0 and v_refunded = v_total) then
    perform internal.fail(400, 'refund_exceeds_refundable', 'Refund exceeds refundable amount');
  end if;

  insert into public.refunds (purchases_id, amount, reason, companies_id)
  values (v_purchase.id, v_amount, args ->> 'reason', v_company)
  returning * into v_refund;

  insert into public.events (category, channels_id, leads_id, purchases_id, companies_id, data)
  values ('refund', v_channel.id, v_purchase.leads_id, v_purchase.id, v_company,
    jsonb_build_object('refunds_id', v_refund.id, 'amount', v_amount, 'currency', v_channel.currency))
  returning id into v_event_id;

  with reversal as (
    select o.*, case o.reward_type
        when 'percentage' then round(o.rate * (v_refunded + v_amount) * 0.01, cur.minor_units)
          - round(o.rate * v_refunded * 0.01, cur.minor_units)
        else o.amount
      end as reversed
    from public.reward_events o
    join public.currencies cur on cur.code = o.currency
    where o.purchases_id = v_purchase.id and o.reverses_reward_events_id is null and o.amount > 0
      and (o.reward_type = 'percentage' or v_refunded + v_amount = v_total)
  ), inserted as (
    insert into public.reward_events (reward_triggers_id, channels_id, leads_id, purchases_id, events_id, amount,
      currency, reward_type, rate, base_amount, beneficiary_companies_id, refunds_id, reverses_reward_events_id)
    select o.reward_triggers_id, o.channels_id, o.leads_id, o.purchases_id, v_event_id, -o.reversed, o.currency,
      o.reward_type, o.rate, v_amount, o.beneficiary_companies_id, v_refund.id, o.id
    from reversal o
    where o.reversed <> 0
    returning *
  )
  select coalesce(json_agg(internal.reward_event_json(i, true) order by i.reward_type, i.reward_triggers_id), '[]')
  into v_rewards
  from inserted i;

  return json_build_object(
    'refund', json_build_object('id', v_refund.id, 'created_at', internal.iso_time(v_refund.created_at),
      'purchases_id', v_refund.purchases_id, 'amount', v_refund.amount, 'reason', v_refund.reason),
    'reward_events', v_rewards
  );
end;
$$;
revoke execute on function public.refund_purchase(text, jsonb) from public, anon, authenticated;
grant execute on function public.refund_purchase(text, jsonb) to service_role;

-- ---------------------------------------------------------------------------------------
-- Listings
-- ---------------------------------------------------------------------------------------

-- public.get_purchases(key_hash, args): {"purchases": [...], "next_cursor"}, newest first.
-- args: lead_id and/or channel_id (at least one), limit 1-100 (default 100), cursor.
-- Errors: 403 Lead not accessible / Channel not accessible; 400 cursor is invalid.
create function public.get_purchases(key_hash text, args jsonb)
returns json
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_company uuid := internal.company_for_key(key_hash);
  v_lead_id uuid := (args ->> 'lead_id')::uuid;
  v_channel_id uuid := (args ->> 'channel_id')::uuid;
  v_limit integer := coalesce((args ->> 'limit')::integer, 100);
  v_after_created_at timestamptz;
  v_after_id uuid;
  v_items json[];
  v_times timestamptz[];
  v_ids uuid[];
begin
  if v_lead_id is not null then
    perform internal.lead_channel(v_company, v_lead_id);
  end if;
  if v_channel_id is not null then
    perform internal.accessible_channel(v_company, v_channel_id);
  end if;
  select d.created_at, d.id into v_after_created_at, v_after_id from internal.decode_cursor(args ->> 'cursor') d;
  select array_agg(internal.purchase_json(p, true) order by p.created_at desc, p.id desc),
    array_agg(p.created_at order by p.created_at desc, p.id desc),
    array_agg(p.id order by p.created_at desc, p.id desc)
  into v_items, v_times, v_ids
  from (
    select p.* from public.purchases p
    where (v_lead_id is null or p.leads_id = v_lead_id)
      and (v_channel_id is null or p.channels_id = v_channel_id)
      and (v_after_id is null or (p.created_at, p.id) < (v_after_created_at, v_after_id))
    order by p.created_at desc, p.id desc
    limit v_limit + 1
  ) p;
  return internal.page('purchases', v_items, v_times, v_ids, v_limit);
end;
$$;
revoke execute on function public.get_purchases(text, jsonb) from public, anon, authenticated;
grant execute on function public.get_purchases(text, jsonb) to service_role;

-- public.get_reward_events(key_hash, args): {"reward_events": [...], "next_cursor"}, newest
-- first, detailed form. args: channel_id (required), lead_id, purchase_id (filters), limit,
-- cursor. Errors: 403 Channel not accessible; 400 cursor is invalid.
create function public.get_reward_events(key_hash text, args jsonb)
returns json
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_company uuid := internal.company_for_key(key_hash);
  v_channel public.channels := internal.accessible_channel(v_company, (args ->> 'channel_id')::uuid);
  v_lead_id uuid := (args ->> 'lead_id')::uuid;
  v_purchase_id uuid := (args ->> 'purchase_id')::uuid;
  v_limit integer := coalesce((args ->> 'limit')::integer, 100);
  v_after_created_at timestamptz;
  v_after_id uuid;
  v_items json[];
  v_times timestamptz[];
  v_ids uuid[];
begin
  select d.created_at, d.id into v_after_created_at, v_after_id from internal.decode_cursor(args ->> 'cursor') d;
  select array_agg(internal.reward_event_json(r, true) order by r.created_at desc, r.id desc),
    array_agg(r.created_at order by r.created_at desc, r.id desc),
    array_agg(r.id order by r.created_at desc, r.id desc)
  into v_items, v_times, v_ids
  from (
    select r.* from public.reward_events r
    where r.channels_id = v_channel.id
      and (v_lead_id is null or r.leads_id = v_lead_id)
      and (v_purchase_id is null or r.purchases_id = v_purchase_id)
      and (v_after_id is null or (r.created_at, r.id) < (v_after_created_at, v_after_id))
    order by r.created_at desc, r.id desc
    limit v_limit + 1
  ) r;
  return internal.page('reward_events', v_items, v_times, v_ids, v_limit);
end;
$$;
revoke execute on function public.get_reward_events(text, jsonb) from public, anon, authenticated;
grant execute on function public.get_reward_events(text, jsonb) to service_role;
