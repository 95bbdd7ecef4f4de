-- Money out (API.md §7): who may record purchases, the reward lifecycle (status derived at
-- read time), approvals, balances and payouts, and the guard on the public intake.

-- ---------------------------------------------------------------------------------------
-- Schema
-- ---------------------------------------------------------------------------------------

-- purchase_writers: 'receiving' (the merchant alone records sales and refunds) or 'any' (every
-- party, the original platform's behaviour). Every channel starts as 'receiving', existing ones
-- too: the beneficiary of the rewards must not mint its own (`channel update --purchase-writers
-- any` restores the original behaviour for one channel).
-- hold_days: how long a reward stays `pending` before it is payable. intake_per_minute: public
-- intake leads per client address per minute.
alter table public.channels
  add column purchase_writers text not null default 'receiving' check (purchase_writers in ('receiving', 'any')),
  add column hold_days integer not null default 30 check (hold_days between 0 and 3650),
  add column intake_per_minute integer not null default 10 check (intake_per_minute between 1 and 10000);

create table public.payouts (
  id uuid primary key default gen_random_uuid(),
  created_at timestamptz not null default now(),
  channels_id uuid not null references public.channels (id),
  beneficiary_companies_id uuid references public.companies (id),
  currency char(3) not null references public.currencies (code),
  amount numeric not null check (amount > 0),
  reward_events_count integer not null,
  status text not null default 'pending' check (status in ('pending', 'paid', 'cancelled')),
  reference text,
  paid_at timestamptz,
  cancelled_at timestamptz,
  companies_id uuid not null references public.companies (id)
);
create index payouts_channels_id_idx on public.payouts (channels_id, created_at desc, id desc);
create index payouts_beneficiary_companies_id_idx on public.payouts (beneficiary_companies_id);
create index payouts_currency_idx on public.payouts (currency);
create index payouts_companies_id_idx on public.payouts (companies_id);
alter table public.payouts enable row level security;
revoke all on public.payouts from anon, authenticated;

-- The stored facts a reward's status is derived from (internal.reward_status):
-- status: the decision, 'pending' (none yet), 'approved' or 'rejected' (approve_rewards,
-- reject_rewards); needs_review: created by the beneficiary's own action or by public intake,
-- so time alone never approves it; payouts_id: the pending or paid payout holding it (cleared
-- when that payout is cancelled).
alter table public.reward_events
  add column needs_review boolean not null default false,
  add column decided_at timestamptz,
  add column rejection_reason text,
  add column payouts_id uuid references public.payouts (id),
  add constraint reward_events_status_check check (status in ('pending', 'approved', 'rejected'));
create index reward_events_payouts_id_idx on public.reward_events (payouts_id) where payouts_id is not null;

-- Public intake admitted per channel and client address, for the per-minute limit; rows older
-- than a minute are deleted as the same key is counted again.
create table public.intake_log (
  channels_id uuid not null references public.channels (id) on delete cascade,
  client text not null,
  created_at timestamptz not null default now()
);
create index intake_log_key_idx on public.intake_log (channels_id, client, created_at);
alter table public.intake_log enable row level security;
revoke all on public.intake_log from anon, authenticated;

-- ---------------------------------------------------------------------------------------
-- Reward status and objects
-- ---------------------------------------------------------------------------------------

-- internal.reward_status(r, hold_days): the status of a reward event, derived from stored
-- facts at every read, so the hold period is exact without a scheduled job:
-- in a payout: 'paid' once the payout is paid, else 'approved'; a reversal (refund) not in a
-- payout follows its original, except that once the original is paid the reversal is
-- 'approved' (a clawback for the next payout); otherwise the decision ('rejected',
-- 'approved'), else 'review' when it needs one, else 'approved' once hold_days have passed
-- since created_at, else 'pending'. hold_days is the channel's current setting.
create function internal.reward_status(r public.reward_events, hold_days integer)
returns text
language plpgsql
stable
set search_path = ''
as $$
declare
  v_original public.reward_events;
  v_status text;
begin
  if r.payouts_id is not null then
    return case when (select p.status from public.payouts p where p.id = r.payouts_id) = 'paid' then 'paid'
      else 'approved' end;
  end if;
  if r.reverses_reward_events_id is not null then
    select o.* into v_original from public.reward_events o where o.id = r.reverses_reward_events_id;
    v_status := internal.reward_status(v_original, hold_days);
    return case v_status when 'paid' then 'approved' else v_status end;
  end if;
  return case
    when r.status <> 'pending' then r.status
    when r.needs_review then 'review'
    when r.created_at + make_interval(days => hold_days) <= now() then 'approved'
    else 'pending'
  end;
end;
$$;
revoke execute on function internal.reward_status(public.reward_events, integer) from public;

-- internal.reward_json(r, detailed, hold_days): the API's reward event with its status.
-- Purchase responses use the short form; refunds, listings and §7 actions the detailed one,
-- which adds where the event comes from, what it reverses, why it was rejected and the payout
-- holding it. Replaces internal.reward_event_json, which had no status.
create function internal.reward_json(r public.reward_events, detailed boolean, hold_days integer)
returns json
language plpgsql
stable
set search_path = ''
as $$
begin
  if not detailed then
    return json_build_object('id', r.id, 'reward_triggers_id', r.reward_triggers_id, 'amount', r.amount,
      'currency', r.currency, 'reward_type', r.reward_type, 'rate', r.rate, 'base_amount', r.base_amount,
      'beneficiary_company_id', r.beneficiary_companies_id, 'status', internal.reward_status(r, hold_days));
  end if;
  return json_build_object('id', r.id, 'reward_triggers_id', r.reward_triggers_id, 'amount', r.amount,
    'currency', r.currency, 'reward_type', r.reward_type, 'rate', r.rate, 'base_amount', r.base_amount,
    'beneficiary_company_id', r.beneficiary_companies_id, 'created_at', internal.iso_time(r.created_at),
    'channels_id', r.channels_id, 'leads_id', r.leads_id, 'purchases_id', r.purchases_id,
    'refunds_id', r.refunds_id, 'reverses_reward_events_id', r.reverses_reward_events_id,
    'status', internal.reward_status(r, hold_days), 'rejection_reason', r.rejection_reason,
    'payouts_id', r.payouts_id);
end;
$$;
revoke execute on function internal.reward_json(public.reward_events, boolean, integer) from public;

-- internal.fire_rewards, as before, plus needs_review: a reward created by the beneficiary's
-- own action (the event's company is the channel's referring company) or by public intake
-- (an event without company) waits for approve_rewards instead of the hold period.
create or replace function internal.fire_rewards(
  channel public.channels,
  trigger_ids uuid[],
  lead_id uuid,
  purchase_id uuid,
  event_id uuid,
  base numeric
)
returns setof public.reward_events
language plpgsql
set search_path = ''
as $$
declare
  v_actor uuid := (select e.companies_id from public.events e where e.id = event_id);
begin
  return query
  insert into public.reward_events (
    reward_triggers_id, channels_id, leads_id, purchases_id, events_id, amount, currency,
    reward_type, rate, base_amount, beneficiary_companies_id, needs_review
  )
  select t.id, channel.id, lead_id, purchase_id, event_id, r.amount, channel.currency, t.reward_type,
    case when t.reward_type = 'percentage' then t.amount end, base, channel.referring_id,
    v_actor is null or v_actor = channel.referring_id
  from public.reward_triggers t
  join public.currencies cur on cur.code = channel.currency
  cross join lateral (
    select internal.reward_amount(t.reward_type, t.amount, base, cur.minor_units) as amount
  ) r
  where t.id = any (trigger_ids) and r.amount > 0
  order by t.created_at, t.id
  returning *;
end;
$$;

-- internal.require_purchase_writer(channel, company): with purchase_writers 'receiving', only
-- the receiving company may record purchases and refunds: others get 403.
create function internal.require_purchase_writer(channel public.channels, company uuid)
returns void
language plpgsql
stable
set search_path = ''
as $$
begin
  if channel.purchase_writers = 'receiving' and channel.receiving_id is distinct from company then
    perform internal.fail(403, 'purchase_not_permitted', 'Only the receiving company can record purchases on this channel');
  end if;
end;
$$;
revoke execute on function internal.require_purchase_writer(public.channels, uuid) from public;

-- internal.require_receiving(channel, company): the receiving-only actions of §7 (approvals,
-- payouts) answer 403 to every other party.
create function internal.require_receiving(channel public.channels, company uuid)
returns void
language plpgsql
stable
set search_path = ''
as $$
begin
  if channel.receiving_id is distinct from company then
    perform internal.fail(403, 'not_permitted', 'Only the receiving company can do this on this channel');
  end if;
end;
$$;
revoke execute on function internal.require_receiving(public.channels, uuid) from public;

-- ---------------------------------------------------------------------------------------
-- Purchases and refunds: the role rule and reward status
-- ---------------------------------------------------------------------------------------

-- internal.record_purchase, as before (see 20261126000400_create_purchase.sql), plus the role
-- rule (after lead access, so a company without access still gets "Lead not accessible") and
-- the status of each reward event, with needs_review when the acting company is the
-- beneficiary. The purchase, its event and its rewards are written, and the answer built, in one
-- statement of data-modifying CTEs (for speed: one executor run instead of a chain of plpgsql
-- statements); the rewards are computed as internal.reward_amount does (round(base × rate ×
-- 0.01) for percentages, the amount for fixed ones, to the currency's minor units; only those
-- > 0).
create or replace function internal.record_purchase(company uuid, args jsonb, with_name boolean)
returns json
language plpgsql
set search_path = ''
as $$
declare
  v_channel public.channels := internal.lead_channel(company, (args ->> 'lead_id')::uuid);
  v_product_id uuid := (args ->> 'product_id')::uuid;
  v_trigger_ids uuid[];
  v_result json;
begin
  perform internal.require_purchase_writer(v_channel, company);
  if v_product_id is not null and not exists (
    select 1 from public.products p where p.id = v_product_id and p.companies_id = company
  ) then
    perform internal.fail(403, 'product_not_owned', 'Product not found or not owned by your company');
  end if;
  if jsonb_typeof(args -> 'trigger_ids') = 'array' then
    v_trigger_ids := internal.purchase_trigger_ids(v_channel,
      array(select jsonb_array_elements_text(args -> 'trigger_ids')::uuid));
  end if;

  with purchase as (
    insert into public.purchases (leads_id, channels_id, products_id, purchase_amount, date, description, name,
      companies_id)
    values (
      (args ->> 'lead_id')::uuid,
      v_channel.id,
      v_product_id,
      (args ->> 'purchase_amount')::numeric,
      coalesce((args ->> 'date')::timestamptz, now()),
      coalesce(args ->> 'description', args ->> 'product_description'),
      args ->> 'product_name',
      company
    )
    returning *
  ), event as (
    insert into public.events (category, channels_id, leads_id, purchases_id, companies_id, data)
    select 'purchase', v_channel.id, p.leads_id, p.id, company,
      jsonb_build_object('purchase_amount', p.purchase_amount, 'currency', v_channel.currency)
    from purchase p
    returning id
  ), reward as (
    insert into public.reward_events (reward_triggers_id, channels_id, leads_id, purchases_id, events_id, amount,
      currency, reward_type, rate, base_amount, beneficiary_companies_id, needs_review)
    select t.id, v_channel.id, p.leads_id, p.id, e.id, a.amount, v_channel.currency, t.reward_type,
      case when t.reward_type = 'percentage' then t.amount end, p.purchase_amount, v_channel.referring_id,
      company = v_channel.referring_id
    from purchase p
    cross join event e
    join public.reward_triggers t on t.channels_id = v_channel.id
    join public.currencies cur on cur.code = v_channel.currency
    cross join lateral (
      select round(case t.reward_type when 'fixed' then t.amount else coalesce(p.purchase_amount, 0) * t.amount * 0.01
        end, cur.minor_units) as amount
    ) a
    where (case when v_trigger_ids is null then t.trigger = 'purchase' and t.status = 'Active'
        else t.id = any (v_trigger_ids) end)
      and a.amount > 0
    returning *
  )
  select json_build_object(
    'purchase', internal.purchase_json(p::public.purchases, with_name),
    'reward_events', coalesce((
      select json_agg(internal.reward_json(r::public.reward_events, false, v_channel.hold_days)
        order by r.reward_type, r.reward_triggers_id)
      from reward r
    ), '[]'::json)
  )
  into v_result
  from purchase p;
  return v_result;
end;
$$;

-- public.refund_purchase, as before (see 20261126000800_money_safe_writes.sql), plus the role
-- rule after the access check and the status of each reversal.
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
    returning *
  )
  select coalesce(json_agg(internal.reward_json(i, true, v_channel.hold_days)
    order by i.reward_type, i.reward_triggers_id), '[]')
  into v_rewards
  from inserted i;

  return json_build_object(
    'refund', json_build_object('id', v_refund.id, 'created_at', internal.iso_time(v_refund.created_at),
      'purchases_id', v_refund.purchases_id, 'amount', v_refund.amount, 'reason', v_refund.reason),
    'reward_events', v_rewards
  );
end;
$$;

-- public.get_reward_events, as before, with each event's status.
create or replace function public.get_reward_events(key_hash text, args jsonb)
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
  select array_agg(internal.reward_json(r, true, v_channel.hold_days) order by r.created_at desc, r.id desc),
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

drop function internal.reward_event_json(public.reward_events, boolean);

-- ---------------------------------------------------------------------------------------
-- Approvals
-- ---------------------------------------------------------------------------------------

-- internal.decide_rewards(key_hash, args, decision): approve_rewards (decision 'approved':
-- pending/review → approved) and reject_rewards ('rejected': pending/review/approved →
-- rejected, with args.reason), receiving company only. The named reward events are locked;
-- one that is not a reward event of the channel → 404 for the first such id, nothing changes.
-- A reward in any other status, in a payout (pending or paid), or a reversal (which follows its
-- original: decide the original) is listed under "skipped" with its status.
-- Returns {"reward_events": [changed, detailed], "skipped": [{"id", "status"}]}.
create function internal.decide_rewards(key_hash text, args jsonb, decision text)
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
    select r.id, s.status,
      r.reverses_reward_events_id is null and r.payouts_id is null and s.status = any (v_from) as decidable
    from public.reward_events r
    cross join lateral (select internal.reward_status(r, v_channel.hold_days) as status) s
    where r.id = any (v_ids)
  ), updated as (
    update public.reward_events r set status = decision, decided_at = now(),
      rejection_reason = case when decision = 'rejected' then args ->> 'reason' end
    from found f where r.id = f.id and f.decidable
    returning r.*
  )
  select
    (select coalesce(json_agg(internal.reward_json(u, true, v_channel.hold_days) order by u.created_at, u.id), '[]')
      from updated u),
    (select coalesce(json_agg(json_build_object('id', f.id, 'status', f.status) order by f.id), '[]')
      from found f where not f.decidable)
  into v_changed, v_skipped;
  return json_build_object('reward_events', v_changed, 'skipped', v_skipped);
end;
$$;
revoke execute on function internal.decide_rewards(text, jsonb, text) from public;

-- public.approve_rewards(key_hash, args): args channel_id, reward_event_ids. See decide_rewards.
create function public.approve_rewards(key_hash text, args jsonb)
returns json
language plpgsql
security definer
set search_path = ''
as $$
begin
  return internal.decide_rewards(key_hash, args, 'approved');
end;
$$;
revoke execute on function public.approve_rewards(text, jsonb) from public, anon, authenticated;
grant execute on function public.approve_rewards(text, jsonb) to service_role;

-- public.reject_rewards(key_hash, args): args channel_id, reward_event_ids, reason. See
-- decide_rewards.
create function public.reject_rewards(key_hash text, args jsonb)
returns json
language plpgsql
security definer
set search_path = ''
as $$
begin
  return internal.decide_rewards(key_hash, args, 'rejected');
end;
$$;
revoke execute on function public.reject_rewards(text, jsonb) from public, anon, authenticated;
grant execute on function public.reject_rewards(text, jsonb) to service_role;

-- ---------------------------------------------------------------------------------------
-- Balances and payouts
-- ---------------------------------------------------------------------------------------

-- public.get_balances(key_hash, args): {"balances": [{currency, pending, review, approved,
-- in_payout, paid, rejected}]}, per currency of the channel's reward events (reversals
-- included), sums of amounts by status; an approved reward in a pending payout counts under
-- in_payout. Any party of the channel. Errors: 403 Channel not accessible.
create function public.get_balances(key_hash text, args jsonb)
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
        select r.currency, r.amount, case
            when s.status = 'approved' and r.payouts_id is not null then 'in_payout'
            else s.status
          end as bucket
        from public.reward_events r
        cross join lateral (select internal.reward_status(r, v_channel.hold_days) as status) s
        where r.channels_id = v_channel.id
      ) b
      group by b.currency
    ) t
  ), '[]'::json));
end;
$$;
revoke execute on function public.get_balances(text, jsonb) from public, anon, authenticated;
grant execute on function public.get_balances(text, jsonb) to service_role;

-- internal.payout_json(p): the API's payout object.
create function internal.payout_json(p public.payouts)
returns json
language plpgsql
immutable
set search_path = ''
as $$
begin
  return json_build_object('id', p.id, 'channels_id', p.channels_id, 'beneficiary_company_id',
    p.beneficiary_companies_id, 'currency', p.currency, 'amount', p.amount, 'reward_events_count',
    p.reward_events_count, 'status', p.status, 'reference', p.reference, 'created_at', internal.iso_time(p.created_at),
    'paid_at', internal.iso_time(p.paid_at));
end;
$$;
revoke execute on function internal.payout_json(public.payouts) from public;

-- public.create_payout(key_hash, args): args channel_id, currency (default the channel's).
-- Receiving company only. Gathers every approved reward event of the channel, currency and
-- current beneficiary (the referring company) that is in no payout, positive and negative
-- (clawbacks), into one pending payout of their sum. The channel row is locked first, so
-- concurrent payouts of a channel run one after the other and never share a reward event.
-- Errors: 403 Channel not accessible / Only the receiving company…; 400 Nothing to pay (sum ≤ 0,
-- nothing written). Returns {"payout": {...}}.
create function public.create_payout(key_hash text, args jsonb)
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
  v_ids uuid[];
  v_amount numeric;
begin
  perform internal.require_receiving(v_channel, v_company);
  perform 1 from public.channels c where c.id = v_channel.id for update;
  v_currency := coalesce(args ->> 'currency', v_channel.currency);

  -- The candidates are locked (a concurrent reject_rewards either finishes first, and its
  -- rejection is seen here, or waits and then finds them in this payout).
  select array_agg(r.id), sum(r.amount) into v_ids, v_amount
  from (
    select r.* from public.reward_events r
    where r.channels_id = v_channel.id and r.currency = v_currency and r.payouts_id is null
      and r.beneficiary_companies_id is not distinct from v_channel.referring_id
    for update
  ) r
  where internal.reward_status(r, v_channel.hold_days) = 'approved';
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
revoke execute on function public.create_payout(text, jsonb) from public, anon, authenticated;
grant execute on function public.create_payout(text, jsonb) to service_role;

-- internal.pending_payout(company, payout_id): the payout, locked, for the receiving company of
-- its channel, while it is still pending. 403 Payout not accessible for a payout that does not
-- exist or whose channel the company is no party of; 403 Only the receiving company… for
-- another party; 409 Payout already paid / Payout cancelled once it is no longer pending.
create function internal.pending_payout(company uuid, payout_id uuid)
returns public.payouts
language plpgsql
set search_path = ''
as $$
declare
  v_payout public.payouts;
  v_channel public.channels;
begin
  select p.* into v_payout from public.payouts p where p.id = payout_id;
  select c.* into v_channel from public.channels c where c.id = v_payout.channels_id;
  if v_payout.id is null or not internal.can_access(v_channel, company) then
    perform internal.fail(403, 'payout_not_accessible', 'Payout not accessible');
  end if;
  perform internal.require_receiving(v_channel, company);
  select p.* into v_payout from public.payouts p where p.id = payout_id for update;
  if v_payout.status = 'paid' then
    perform internal.fail(409, 'payout_already_paid', 'Payout already paid');
  elsif v_payout.status = 'cancelled' then
    perform internal.fail(409, 'payout_cancelled', 'Payout cancelled');
  end if;
  return v_payout;
end;
$$;
revoke execute on function internal.pending_payout(uuid, uuid) from public;

-- public.mark_payout_paid(key_hash, args): args payout_id, reference (the bank's or payment
-- provider's id). pending → paid with paid_at now; its reward events read 'paid'.
-- Errors: those of internal.pending_payout.
create function public.mark_payout_paid(key_hash text, args jsonb)
returns json
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_payout public.payouts := internal.pending_payout(internal.company_for_key(key_hash),
    (args ->> 'payout_id')::uuid);
begin
  update public.payouts p set status = 'paid', paid_at = now(), reference = args ->> 'reference'
  where p.id = v_payout.id
  returning * into v_payout;
  return json_build_object('payout', internal.payout_json(v_payout));
end;
$$;
revoke execute on function public.mark_payout_paid(text, jsonb) from public, anon, authenticated;
grant execute on function public.mark_payout_paid(text, jsonb) to service_role;

-- public.cancel_payout(key_hash, args): args payout_id. pending → cancelled; its reward
-- events leave it and read 'approved' again. Errors: those of internal.pending_payout.
create function public.cancel_payout(key_hash text, args jsonb)
returns json
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_payout public.payouts := internal.pending_payout(internal.company_for_key(key_hash),
    (args ->> 'payout_id')::uuid);
begin
  update public.reward_events r set payouts_id = null where r.payouts_id = v_payout.id;
  update public.payouts p set status = 'cancelled', cancelled_at = now()
  where p.id = v_payout.id
  returning * into v_payout;
  return json_build_object('payout', internal.payout_json(v_payout));
end;
$$;
revoke execute on function public.cancel_payout(text, jsonb) from public, anon, authenticated;
grant execute on function public.cancel_payout(text, jsonb) to service_role;

-- public.get_payouts(key_hash, args): {"payouts": [...], "next_cursor"}, newest first, paged
-- like get_leads. Any party of the channel. Errors: 403 Channel not accessible; 400 cursor is
-- invalid.
create function public.get_payouts(key_hash text, args jsonb)
returns json
language plpgsql
stable
security definer
set search_path = ''
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
    where p.channels_id = v_channel.id
      and (v_after_id is null or (p.created_at, p.id) < (v_after_created_at, v_after_id))
    order by p.created_at desc, p.id desc
    limit v_limit + 1
  ) p;
  return internal.page('payouts', v_items, v_times, v_ids, v_limit);
end;
$$;
revoke execute on function public.get_payouts(text, jsonb) from public, anon, authenticated;
grant execute on function public.get_payouts(text, jsonb) to service_role;

-- ---------------------------------------------------------------------------------------
-- Public intake guard
-- ---------------------------------------------------------------------------------------

-- public.lead_external(args, client): as before (see 20261126000600_lead_actions.sql), plus the
-- intake limit, checked after the channel checks: at most intake_per_minute leads per channel
-- and client address in any 60 s. Over it → 429 Too many requests, nothing written, with the
-- seconds until the oldest counted lead leaves the window (1-60) as the error's detail
-- ("retry_after=<s>"), which the API answers as Retry-After. A transaction-scoped advisory
-- lock on (channel, client) makes concurrent requests of one client count one after another.
-- client is the address the edge function derived (API.md §7); null counts as one client.
create function public.lead_external(args jsonb, client text)
returns json
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_channel public.channels;
  v_client text := coalesce(client, '');
  v_count integer;
  v_oldest timestamptz;
begin
  select c.* into v_channel from public.channels c
  where c.id = (args ->> 'channel_id')::uuid or c.uuid = (args ->> 'channel_id')::uuid
  limit 1;
  if v_channel.id is null then
    perform internal.fail(404, 'channel_not_found', 'Channel not found');
  end if;
  if not v_channel.no_auth_api then
    perform internal.fail(403, 'public_api_disabled', 'Public API not enabled for this channel');
  end if;

  perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended(v_channel.id::text || '|' || v_client, 0));
  delete from public.intake_log i
  where i.channels_id = v_channel.id and i.client = v_client and i.created_at <= now() - interval '1 minute';
  select count(*), min(i.created_at) into v_count, v_oldest
  from public.intake_log i where i.channels_id = v_channel.id and i.client = v_client;
  if v_count >= v_channel.intake_per_minute then
    raise exception using errcode = 'PT429', message = 'Too many requests', hint = 'rate_limited',
      detail = 'retry_after=' || least(60, greatest(1,
        ceil(extract(epoch from v_oldest + interval '1 minute' - now()))::integer));
  end if;
  insert into public.intake_log (channels_id, client) values (v_channel.id, v_client);
  return internal.insert_lead(v_channel, null, args, false);
end;
$$;
revoke execute on function public.lead_external(jsonb, text) from public, anon, authenticated;
grant execute on function public.lead_external(jsonb, text) to service_role;
drop function public.lead_external(jsonb);

-- ---------------------------------------------------------------------------------------
-- Idempotency for the new writes
-- ---------------------------------------------------------------------------------------

-- public.idempotent, as before (see 20261126000800_money_safe_writes.sql), with the §7 writes
-- added to the actions it may run.
create or replace function public.idempotent(
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
    'update_lead', 'update_status', 'update_status_id', 'refund_purchase', 'approve_rewards', 'reject_rewards',
    'create_payout', 'mark_payout_paid', 'cancel_payout']) then
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
