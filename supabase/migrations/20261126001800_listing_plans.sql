-- get_purchases, get_leads and get_payouts planned once per session (issue 10), as
-- get_reward_events is since 20261126001700_reward_status_view.sql. Their queries had optional
-- conditions ("v_after_id is null or (created_at, id) < (…)", "v_lead_id is null or
-- p.leads_id = v_lead_id"), which PL/pgSQL's plan cache re-planned at every call, since a
-- generic plan of them can use neither the cursor as an index condition nor the right index.
-- Each combination of filters now has a statement whose generic plan is the right one, and
-- plan_cache_mode is force_generic_plan for these functions; without a cursor a page starts
-- after decode_cursor's start (20261126001700_reward_status_view.sql). What it bought is in
-- docs/operations.md, "Benchmarks".

-- internal.purchase_objects: every purchase with its API object (with name), as
-- internal.purchase_json wrote it, set-based like internal.lead_objects: a page of purchases
-- made three plpgsql calls per row (purchase_json and iso_time twice), each switching
-- search_path. The object is written from a typed row, with the timestamps in
-- internal.iso_time's format. internal.purchase_json goes (record_purchase writes its own,
-- 20261126001500_purchase_path_cost.sql).
create type internal.purchase_object as (id uuid, created_at text, leads_id uuid, products_id uuid,
  purchase_amount numeric, date text, description text, name text);
create view internal.purchase_objects with (security_invoker = true) as
select p.id, p.leads_id, p.channels_id, p.created_at,
  row_to_json(row(p.id, to_char(p.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), p.leads_id,
    p.products_id, p.purchase_amount, to_char(p.date at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
    p.description, p.name)::internal.purchase_object) as purchase
from public.purchases p;
revoke all on internal.purchase_objects from public, anon, authenticated, service_role;

-- public.get_purchases, as in 20261126000800_money_safe_writes.sql, reading
-- internal.purchase_objects: by the lead's index when a lead is given (then the channel, if
-- given too, is a filter), else by the channel's.
create or replace function public.get_purchases(key_hash text, args jsonb)
returns json
language plpgsql
stable
security definer
set search_path = ''
set plan_cache_mode = force_generic_plan
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
  if v_lead_id is not null then
    select array_agg(p.purchase order by p.created_at desc, p.id desc),
      array_agg(p.created_at order by p.created_at desc, p.id desc), array_agg(p.id order by p.created_at desc, p.id desc)
    into v_items, v_times, v_ids
    from (
      select p.purchase, p.created_at, p.id from internal.purchase_objects p
      where p.leads_id = v_lead_id and (v_channel_id is null or p.channels_id = v_channel_id)
        and (p.created_at, p.id) < (v_after_created_at, v_after_id)
      order by p.created_at desc, p.id desc limit v_limit + 1
    ) p;
  else
    select array_agg(p.purchase order by p.created_at desc, p.id desc),
      array_agg(p.created_at order by p.created_at desc, p.id desc), array_agg(p.id order by p.created_at desc, p.id desc)
    into v_items, v_times, v_ids
    from (
      select p.purchase, p.created_at, p.id from internal.purchase_objects p
      where p.channels_id = v_channel_id and (p.created_at, p.id) < (v_after_created_at, v_after_id)
      order by p.created_at desc, p.id desc limit v_limit + 1
    ) p;
  end if;
  return internal.page('purchases', v_items, v_times, v_ids, v_limit);
end;
$$;

-- public.get_leads, as in 20261126000600_lead_actions.sql.
create or replace function public.get_leads(key_hash text, args jsonb)
returns json
language plpgsql
stable
security definer
set search_path = ''
set plan_cache_mode = force_generic_plan
as $$
declare
  v_company uuid := internal.company_for_key(key_hash);
  v_channel public.channels := internal.accessible_channel(v_company, (args ->> 'channel_id')::uuid);
  v_limit integer := coalesce((args ->> 'limit')::integer, 100);
  v_after_created_at timestamptz;
  v_after_id uuid;
  v_leads json[];
  v_times timestamptz[];
  v_ids uuid[];
begin
  select d.created_at, d.id into v_after_created_at, v_after_id from internal.decode_cursor(args ->> 'cursor') d;
  -- One row more than the page tells whether there is a next page.
  select array_agg(p.lead order by p.created_at desc, p.id desc),
    array_agg(p.created_at order by p.created_at desc, p.id desc),
    array_agg(p.id order by p.created_at desc, p.id desc)
  into v_leads, v_times, v_ids
  from (
    select o.lead, o.created_at, o.id from internal.lead_objects o
    where o.channels_id = v_channel.id and (o.created_at, o.id) < (v_after_created_at, v_after_id)
    order by o.created_at desc, o.id desc
    limit v_limit + 1
  ) p;
  return internal.page('leads', v_leads, v_times, v_ids, v_limit);
end;
$$;

-- public.get_payouts, as in 20261126001200_money_out.sql.
create or replace function public.get_payouts(key_hash text, args jsonb)
returns json
language plpgsql
stable
security definer
set search_path = ''
set plan_cache_mode = force_generic_plan
as $$
declare
  v_channel public.channels := internal.accessible_channel(internal.company_for_key(key_hash),
    (args ->> 'channel_id')::uuid);
  v_limit integer := coalesce((args ->> 'limit')::integer, 100);
  v_after_created_at timestamptz;
  v_after_id uuid;
  v_items json[];
  v_times timestamptz[];
  v_ids uuid[];
begin
  select d.created_at, d.id into v_after_created_at, v_after_id from internal.decode_cursor(args ->> 'cursor') d;
  select array_agg(internal.payout_json(p) order by p.created_at desc, p.id desc),
    array_agg(p.created_at order by p.created_at desc, p.id desc),
    array_agg(p.id order by p.created_at desc, p.id desc)
  into v_items, v_times, v_ids
  from (
    select p.* from public.payouts p
    where p.channels_id = v_channel.id and (p.created_at, p.id) < (v_after_created_at, v_after_id)
    order by p.created_at desc, p.id desc
    limit v_limit + 1
  ) p;
  return internal.page('payouts', v_items, v_times, v_ids, v_limit);
end;
$$;

drop function internal.purchase_json(public.purchases, boolean);
