-- create_purchase, second pass (issue 10). Measured as instructions per call of
-- public.create_purchase (callgrind on a single-user PostgreSQL 15, 200 calls after 30 warm-up
-- calls; deterministic, unlike timings on these shared machines), against the plain reference
-- of ../shared/bench at 1.11M. Before this migration: 2.35M. What each change bought is in
-- docs/operations.md, "Benchmarks".
-- 1. The four CHECK constraints of the rows a purchase writes were re-read from the catalog and
--    planned in every statement that inserts into their table. The same rules as domains are
--    planned once per session (the type cache), and hold the same way.
-- 2. Each reward checked its event (events_id → events) and its lead and channel ((leads_id,
--    channels_id) → leads) with two foreign keys. One key (events_id, leads_id, channels_id) →
--    events checks both, since the event's own key already ties its lead and channel to leads,
--    and guarantees more: a reward is on its event's lead and channel. events_id becomes
--    required (every writer sets it).
-- 3. record_purchase called lead_channel, can_access, require_purchase_writer, purchase_json,
--    iso_time (twice), reward_json and reward_status (once per reward): ten plpgsql calls for two rewards, each
--    with its own search_path switch. Their logic is now written inline (same checks, same
--    order, same objects). The lead lookup also reads the currency's minor units, by primary
--    key, where the reward insert scanned the 166 currencies once per reward. The purchase and
--    its event are two plain inserts and the rewards one insert with their JSON: less executor
--    setup than the one statement of three joined CTEs it replaces. The active purchase
--    triggers are found by an index scan on (channels_id, trigger, status), and each reward
--    object is written from a typed row (internal.reward_event_object).

-- 1. Value rules as domains.
create domain internal.non_negative_amount as numeric check (value >= 0);
create domain internal.event_category as text
  check (value in ('purchase', 'new_lead', 'status_change', 'refund'));
create domain internal.reward_type as text check (value in ('fixed', 'percentage'));
create domain internal.reward_decision as text check (value in ('pending', 'approved', 'rejected'));

alter table public.purchases
  drop constraint purchases_purchase_amount_check,
  alter column purchase_amount type internal.non_negative_amount;
alter table public.events
  drop constraint events_category_check,
  alter column category type internal.event_category;
alter table public.reward_events
  drop constraint reward_events_reward_type_check,
  drop constraint reward_events_status_check,
  alter column reward_type type internal.reward_type,
  alter column status type internal.reward_decision;

-- 2. One key for a reward's event, lead and channel.
alter table public.events add constraint events_id_lead_channel_key unique (id, leads_id, channels_id);
alter table public.reward_events
  alter column events_id set not null,
  drop constraint reward_events_events_id_fkey,
  drop constraint reward_events_lead_channel_fkey,
  add constraint reward_events_event_fkey foreign key (events_id, leads_id, channels_id)
    references public.events (id, leads_id, channels_id);

-- The API's reward event objects as row types: row_to_json of a typed row writes the same
-- object as json_build_object with the same keys in the same order, at about two thirds of
-- the cost (the keys are not arguments to convert). internal.reward_json uses them too
-- (20261126001600_listing_cost.sql).
create type internal.reward_event_object as (id uuid, reward_triggers_id uuid, amount numeric, currency text,
  reward_type text, rate numeric, base_amount numeric, beneficiary_company_id uuid, status text);

-- 3. internal.record_purchase, as in 20261126001200_money_out.sql, with its helpers inline. The
-- objects it answers are those of internal.purchase_json and internal.reward_json (short form):
-- same keys, same order, same status rule (a new reward is not in a payout and reverses
-- nothing, so its status is 'review' when it needs one, else 'approved' once hold_days have
-- passed since created_at, else 'pending').
create or replace function internal.record_purchase(company uuid, args jsonb, with_name boolean)
returns json
language plpgsql
set search_path = ''
as $$
declare
  v_lead_id uuid := (args ->> 'lead_id')::uuid;
  v_product_id uuid := (args ->> 'product_id')::uuid;
  v_channel_id uuid;
  v_creator uuid;
  v_partner uuid;
  v_referring uuid;
  v_receiving uuid;
  v_currency text;
  v_writers text;
  v_hold_days integer;
  v_minor_units integer;
  v_trigger_ids uuid[];
  v_purchase public.purchases;
  v_event_id uuid;
  v_rewards json;
begin
  select c.id, c.creator, c.partner, c.referring_id, c.receiving_id, c.currency, c.purchase_writers, c.hold_days,
    cur.minor_units
  into v_channel_id, v_creator, v_partner, v_referring, v_receiving, v_currency, v_writers, v_hold_days,
    v_minor_units
  from public.leads l
  join public.channels c on c.id = l.channels_id
  join public.currencies cur on cur.code = c.currency
  where l.id = v_lead_id;
  -- internal.lead_channel and internal.can_access.
  if v_channel_id is null
    or not coalesce(company = any (array[v_creator, v_partner, v_referring, v_receiving]), false) then
    perform internal.fail(403, 'lead_not_accessible', 'Lead not accessible');
  end if;
  -- internal.require_purchase_writer.
  if v_writers = 'receiving' and v_receiving is distinct from company then
    perform internal.fail(403, 'purchase_not_permitted',
      'Only the receiving company can record purchases on this channel');
  end if;
  if v_product_id is not null and not exists (
    select 1 from public.products p where p.id = v_product_id and p.companies_id = company
  ) then
    perform internal.fail(403, 'product_not_owned', 'Product not found or not owned by your company');
  end if;
  if jsonb_typeof(args -> 'trigger_ids') = 'array' then
    v_trigger_ids := internal.purchase_trigger_ids((select c from public.channels c where c.id = v_channel_id),
      array(select jsonb_array_elements_text(args -> 'trigger_ids')::uuid));
  end if;

  insert into public.purchases (leads_id, channels_id, products_id, purchase_amount, date, description, name,
    companies_id)
  values (v_lead_id, v_channel_id, v_product_id, (args ->> 'purchase_amount')::numeric,
    coalesce((args ->> 'date')::timestamptz, now()), coalesce(args ->> 'description', args ->> 'product_description'),
    args ->> 'product_name', company)
  returning * into v_purchase;
  insert into public.events (category, channels_id, leads_id, purchases_id, companies_id, data)
  values ('purchase', v_channel_id, v_lead_id, v_purchase.id, company,
    jsonb_build_object('purchase_amount', v_purchase.purchase_amount, 'currency', v_currency))
  returning id into v_event_id;
  with reward as (
    insert into public.reward_events (reward_triggers_id, channels_id, leads_id, purchases_id, events_id, amount,
      currency, reward_type, rate, base_amount, beneficiary_companies_id, needs_review)
    select t.id, v_channel_id, v_lead_id, v_purchase.id, v_event_id, a.amount, v_currency, t.reward_type,
      case when t.reward_type = 'percentage' then t.amount end, v_purchase.purchase_amount, v_referring,
      company = v_referring
    from public.reward_triggers t
    cross join lateral (
      select round(case t.reward_type when 'fixed' then t.amount
        else coalesce(v_purchase.purchase_amount, 0) * t.amount * 0.01 end, v_minor_units) as amount
    ) a
    -- Requested trigger_ids were checked above to be Active purchase triggers of this channel.
    where t.channels_id = v_channel_id and t.trigger = 'purchase' and t.status = 'Active'
      and (v_trigger_ids is null or t.id = any (v_trigger_ids))
      and a.amount > 0
    returning *
  )
  select json_agg(row_to_json(row(r.id, r.reward_triggers_id, r.amount, r.currency, r.reward_type, r.rate,
      r.base_amount, r.beneficiary_companies_id, case
        when r.needs_review then 'review'
        when r.created_at + make_interval(days => v_hold_days) <= now() then 'approved'
        else 'pending'
      end)::internal.reward_event_object)
    order by r.reward_type, r.reward_triggers_id)
  into v_rewards
  from reward r;
  return json_build_object(
    'purchase', case when with_name
      then json_build_object('id', v_purchase.id,
        'created_at', to_char(v_purchase.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
        'leads_id', v_purchase.leads_id, 'products_id', v_purchase.products_id,
        'purchase_amount', v_purchase.purchase_amount,
        'date', to_char(v_purchase.date at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
        'description', v_purchase.description, 'name', v_purchase.name)
      else json_build_object('id', v_purchase.id,
        'created_at', to_char(v_purchase.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
        'leads_id', v_purchase.leads_id, 'products_id', v_purchase.products_id,
        'purchase_amount', v_purchase.purchase_amount,
        'date', to_char(v_purchase.date at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
        'description', v_purchase.description)
      end,
    'reward_events', coalesce(v_rewards, '[]'::json));
end;
$$;
