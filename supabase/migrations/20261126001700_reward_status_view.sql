-- A reward event's status, set-based (issue 10). internal.reward_status was a plpgsql function
-- called once per row by every reader: a get_reward_events page made 101 calls of it and 101 of
-- internal.reward_json, get_balances and create_payout one per reward event of the channel
-- (2M at the scale bench's size). The rule now lives in one view, internal.reward_event_status,
-- which joins each reward event to its channel (hold_days) and reads its payout and the original
-- it reverses; each reader selects from it in a statement after its own writes (a later
-- statement of a function sees them). The detailed API object is a column of the view, so its keys and
-- their order are written here once too. internal.reward_status and internal.reward_json go.
-- record_purchase keeps the part of the rule a new reward can reach, inline
-- (20261126001500_purchase_path_cost.sql): a new reward is in no payout and reverses nothing.
-- What it bought is in docs/operations.md, "Benchmarks".

-- The status of a reward event, as internal.reward_status (20261126001200_money_out.sql) derived
-- it from stored facts at every read, so the hold period is exact without a scheduled job:
-- in a payout: 'paid' once the payout is paid, else 'approved'; a reversal (refund) not in a
-- payout follows its original, except that an original in a payout (approved or paid) makes it
-- 'approved' (a clawback for the next payout); otherwise the decision ('rejected', 'approved'),
-- else 'review' when it needs one, else 'approved' once the channel's current hold_days have
-- passed since created_at, else 'pending'. A reversal reverses an original, never another
-- reversal (refund_purchase), so one level of original is the whole rule; the original's part of
-- it is written a second time, inside the subquery that reads the original. The payout and the
-- original are read by subqueries that run only for a row that has one, and the status is
-- computed in a subquery of the view's FROM (not a LATERAL one): written either way as joins or
-- as a LATERAL, the view cost more per listing page (callgrind: 10.2M and 104M instructions
-- against 9.4M this way; the LATERAL kept the LIMIT from reaching the index scan).
-- detail: the API's detailed reward event (refunds, listings, §7 actions), the object
-- internal.reward_json wrote, with the timestamp in internal.iso_time's format.
-- security_invoker: the view reads the tables with the rights of the function that selects
-- from it; no role but the owner has any privilege on it.
create view internal.reward_event_status with (security_invoker = true) as
select r.id, r.created_at, r.channels_id, r.leads_id, r.purchases_id, r.reward_triggers_id, r.reward_type, r.amount,
  r.currency, r.beneficiary_companies_id, r.payouts_id, r.reverses_reward_events_id, r.status_now as status,
  row_to_json(row(r.id, r.reward_triggers_id, r.amount, r.currency, r.reward_type, r.rate, r.base_amount,
    r.beneficiary_companies_id, to_char(r.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
    r.channels_id, r.leads_id, r.purchases_id, r.refunds_id, r.reverses_reward_events_id, r.status_now,
    r.rejection_reason, r.payouts_id)::internal.reward_event_detail) as detail
from (
  select r.*, case
    when r.payouts_id is not null then
      case when (select p.status from public.payouts p where p.id = r.payouts_id) = 'paid' then 'paid' else 'approved' end
    when r.reverses_reward_events_id is not null then (
      select case
        when o.payouts_id is not null then 'approved'
        when o.status <> 'pending' then o.status::text
        when o.needs_review then 'review'
        when o.created_at + make_interval(days => c.hold_days) <= now() then 'approved'
        else 'pending'
      end
      from public.reward_events o where o.id = r.reverses_reward_events_id)
    when r.status <> 'pending' then r.status::text
    when r.needs_review then 'review'
    when r.created_at + make_interval(days => c.hold_days) <= now() then 'approved'
    else 'pending'
  end as status_now
  from public.reward_events r
  join public.channels c on c.id = r.channels_id
) r;
revoke all on internal.reward_event_status from public, anon, authenticated, service_role;

-- public.refund_purchase, as in 20261126001200_money_out.sql; the reversals' objects are read
-- from internal.reward_event_status after they are written.
create or replace function public.refund_purchase(key_hash text, args jsonb)
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
  v_reversal_ids uuid[];
  v_rewards json;
begin
  select p.* into v_purchase from public.purchases p where p.id = (args ->> 'purchase_id')::uuid;
  select c.* into v_channel from public.channels c where c.id = v_purchase.channels_id;
  if v_purchase.id is null or not internal.can_access(v_channel, v_company) then
    perform internal.fail(403, 'purchase_not_accessible', 'Purchase not accessible');
  end if;
  perform internal.require_purchase_writer(v_channel, v_company);
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
    returning id
  )
  select array_agg(i.id) into v_reversal_ids from inserted i;

  select coalesce(json_agg(v.detail order by v.reward_type, v.reward_triggers_id), '[]')
  into v_rewards
  from internal.reward_event_status v
  where v.id = any (v_reversal_ids);

  return json_build_object(
    'refund', json_build_object('id', v_refund.id, 'created_at', internal.iso_time(v_refund.created_at),
      'purchases_id', v_refund.purchases_id, 'amount', v_refund.amount, 'reason', v_refund.reason),
    'reward_events', v_rewards
  );
end;
$$;

-- internal.decode_cursor, as in 20261126001000_input_hardening.sql, except that no cursor (null
-- or "") decodes to ('infinity', the largest UUID) instead of nulls: every row sorts before it
-- (created_at is a real time), so a listing's first page is "after" it, and a listing needs no
-- optional cursor condition, which a generic plan could not use as an index condition.
create or replace function internal.decode_cursor(cursor text, out created_at timestamptz, out id uuid)
language plpgsql
immutable
set search_path = ''
as $$
declare
  v_padded text := translate(cursor, '-_', '+/');
  v_text text;
begin
  if coalesce(cursor, '') = '' then
    created_at := 'infinity';
    id := 'ffffffff-ffff-ffff-ffff-ffffffffffff';
    return;
  end if;
  v_padded := v_padded || repeat('=', (4 - length(v_padded) % 4) % 4);
  v_text := convert_from(decode(v_padded, 'base64'), 'UTF8');
  if v_text !~ ('^[0-9]{4,6}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{6}Z'
      || '[|][0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$') then
    perform internal.fail(400, 'invalid_request', 'cursor is invalid');
  end if;
  created_at := split_part(v_text, '|', 1)::timestamptz;
  id := split_part(v_text, '|', 2)::uuid;
  if internal.encode_cursor(created_at, id) <> cursor then
    perform internal.fail(400, 'invalid_request', 'cursor is invalid');
  end if;
exception
  -- Class 22: bad base64, invalid UTF-8 or NUL, a date or year out of range.
  when data_exception then
    perform internal.fail(400, 'invalid_request', 'cursor is invalid');
end;
$$;

-- public.get_reward_events, as in 20261126001200_money_out.sql, reading the view. Its one query
-- with optional filters ("v_lead_id is null or r.leads_id = v_lead_id") was planned anew at
-- every call: PL/pgSQL's plan cache kept choosing custom plans, since a generic plan of such a
-- query cannot use the cursor as an index condition nor the purchase index, and scans the whole
-- channel (callgrind: 1.1G instructions per page instead of 10M with the plan forced generic).
-- Planning was a fifth of a page. Now each combination of filters has a statement of its own
-- whose generic plan is the right one (the page's index scan, from the cursor on; the purchase
-- index when a purchase is given), planned once per session: plan_cache_mode is
-- force_generic_plan for this function. Without a cursor, decode_cursor (above) gives a start
-- every row sorts before, so the cursor is always an index condition.
create or replace function public.get_reward_events(key_hash text, args jsonb)
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
  if v_purchase_id is not null then
    select array_agg(v.detail order by v.created_at desc, v.id desc),
      array_agg(v.created_at order by v.created_at desc, v.id desc), array_agg(v.id order by v.created_at desc, v.id desc)
    into v_items, v_times, v_ids
    from (
      select v.detail, v.created_at, v.id from internal.reward_event_status v
      where v.purchases_id = v_purchase_id and v.channels_id = v_channel.id
        and (v_lead_id is null or v.leads_id = v_lead_id) and (v.created_at, v.id) < (v_after_created_at, v_after_id)
      order by v.created_at desc, v.id desc limit v_limit + 1
    ) v;
  elsif v_lead_id is not null then
    select array_agg(v.detail order by v.created_at desc, v.id desc),
      array_agg(v.created_at order by v.created_at desc, v.id desc), array_agg(v.id order by v.created_at desc, v.id desc)
    into v_items, v_times, v_ids
    from (
      select v.detail, v.created_at, v.id from internal.reward_event_status v
      where v.channels_id = v_channel.id and v.leads_id = v_lead_id
        and (v.created_at, v.id) < (v_after_created_at, v_after_id)
      order by v.created_at desc, v.id desc limit v_limit + 1
    ) v;
  else
    select array_agg(v.detail order by v.created_at desc, v.id desc),
      array_agg(v.created_at order by v.created_at desc, v.id desc), array_agg(v.id order by v.created_at desc, v.id desc)
    into v_items, v_times, v_ids
    from (
      select v.detail, v.created_at, v.id from internal.reward_event_status v
      where v.channels_id = v_channel.id and (v.created_at, v.id) < (v_after_created_at, v_after_id)
      order by v.created_at desc, v.id desc limit v_limit + 1
    ) v;
  end if;
  return internal.page('reward_events', v_items, v_times, v_ids, v_limit);
end;
$$;

-- internal.decide_rewards, as in 20261126001200_money_out.sql: the statuses come from the view,
-- and the changed reward events' objects are read from it after the update.
create or replace function internal.decide_rewards(key_hash text, args jsonb, decision text)
returns json
language plpgsql
set search_path = ''
as $$
declare
  v_company uuid := internal.company_for_key(key_hash);
  v_channel public.channels := internal.accessible_channel(v_company, (args ->> 'channel_id')::uuid);
  v_ids uuid[] := array(select jsonb_array_elements_text(args -> 'reward_event_ids')::uuid);
  v_missing uuid;
  v_from text[] := case decision when 'approved' then array['pending', 'review']
    else array['pending', 'review', 'approved'] end;
  v_changed_ids uuid[];
  v_changed json;
  v_skipped json;
begin
  perform internal.require_receiving(v_channel, v_company);
  perform 1 from public.reward_events r where r.id = any (v_ids) and r.channels_id = v_channel.id
  order by r.id for update;
  select i.id into v_missing from unnest(v_ids) with ordinality as i (id, n)
  where not exists (select 1 from public.reward_events r where r.id = i.id and r.channels_id = v_channel.id)
  order by i.n limit 1;
  if v_missing is not null then
    perform internal.fail(404, 'reward_event_not_found', 'Reward event not found: ' || v_missing::text);
  end if;

  with found as (
    select v.id, v.status,
      v.reverses_reward_events_id is null and v.payouts_id is null and v.status = any (v_from) as decidable
    from internal.reward_event_status v
    where v.id = any (v_ids)
  ), updated as (
    update public.reward_events r set status = decision, decided_at = now(),
      rejection_reason = case when decision = 'rejected' then args ->> 'reason' end
    from found f where r.id = f.id and f.decidable
    returning r.id
  )
  select
    (select array_agg(u.id) from updated u),
    (select coalesce(json_agg(json_build_object('id', f.id, 'status', f.status) order by f.id), '[]')
      from found f where not f.decidable)
  into v_changed_ids, v_skipped;

  select coalesce(json_agg(v.detail order by v.created_at, v.id), '[]') into v_changed
  from internal.reward_event_status v
  where v.id = any (v_changed_ids);
  return json_build_object('reward_events', v_changed, 'skipped', v_skipped);
end;
$$;

-- public.get_balances, as in 20261126001200_money_out.sql, summing over the view.
create or replace function public.get_balances(key_hash text, args jsonb)
returns json
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_channel public.channels := internal.accessible_channel(internal.company_for_key(key_hash),
    (args ->> 'channel_id')::uuid);
begin
  return json_build_object('balances', coalesce((
    select json_agg(json_build_object('currency', t.currency, 'pending', t.pending, 'review', t.review,
      'approved', t.approved, 'in_payout', t.in_payout, 'paid', t.paid, 'rejected', t.rejected) order by t.currency)
    from (
      select b.currency,
        coalesce(sum(b.amount) filter (where b.bucket = 'pending'), 0) as pending,
        coalesce(sum(b.amount) filter (where b.bucket = 'review'), 0) as review,
        coalesce(sum(b.amount) filter (where b.bucket = 'approved'), 0) as approved,
        coalesce(sum(b.amount) filter (where b.bucket = 'in_payout'), 0) as in_payout,
        coalesce(sum(b.amount) filter (where b.bucket = 'paid'), 0) as paid,
        coalesce(sum(b.amount) filter (where b.bucket = 'rejected'), 0) as rejected
      from (
        select v.currency, v.amount, case
            when v.status = 'approved' and v.payouts_id is not null then 'in_payout'
            else v.status
          end as bucket
        from internal.reward_event_status v
        where v.channels_id = v_channel.id
      ) b
      group by b.currency
    ) t
  ), '[]'::json));
end;
$$;

-- public.create_payout, as in 20261126001200_money_out.sql. The candidates (the channel's reward
-- events of the currency and current beneficiary in no payout) are locked first, so a
-- concurrent reject_rewards either finishes first, and its rejection is seen here, or waits and
-- then finds them in this payout. The approved ones among exactly those locked rows are then
-- read from the view: a reward committed by another transaction between the two statements is
-- not locked, so it is left for the next payout.
create or replace function public.create_payout(key_hash text, args jsonb)
returns json
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_company uuid := internal.company_for_key(key_hash);
  v_channel public.channels := internal.accessible_channel(v_company, (args ->> 'channel_id')::uuid);
  v_currency char(3);
  v_payout public.payouts;
  v_candidates uuid[];
  v_ids uuid[];
  v_amount numeric;
begin
  perform internal.require_receiving(v_channel, v_company);
  perform 1 from public.channels c where c.id = v_channel.id for update;
  v_currency := coalesce(args ->> 'currency', v_channel.currency);

  select array_agg(r.id) into v_candidates
  from (
    select r.id from public.reward_events r
    where r.channels_id = v_channel.id and r.currency = v_currency and r.payouts_id is null
      and r.beneficiary_companies_id is not distinct from v_channel.referring_id
    for update
  ) r;
  select array_agg(v.id), sum(v.amount) into v_ids, v_amount
  from unnest(v_candidates) c (id)
  join internal.reward_event_status v on v.id = c.id
  where v.status = 'approved';
  if coalesce(v_amount, 0) <= 0 then
    perform internal.fail(400, 'nothing_to_pay', 'Nothing to pay');
  end if;

  insert into public.payouts (channels_id, beneficiary_companies_id, currency, amount, reward_events_count,
    companies_id)
  values (v_channel.id, v_channel.referring_id, v_currency, v_amount, cardinality(v_ids), v_company)
  returning * into v_payout;
  update public.reward_events r set payouts_id = v_payout.id where r.id = any (v_ids);
  return json_build_object('payout', internal.payout_json(v_payout));
end;
$$;

drop function internal.reward_json(public.reward_events, boolean, integer);
drop function internal.reward_status(public.reward_events, integer);
