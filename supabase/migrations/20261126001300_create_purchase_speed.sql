-- create_purchase at the speed Postgres allows (issue 10). What the profile showed, and what
-- this changes (before/after numbers in docs/operations.md, "Performance"):
-- 1. Every purchase inserted into 22 indexes; 11 of them served no query, only the (never
--    used) deletion of a parent row, and several were on columns every purchase of a channel
--    shares (currency, beneficiary, trigger, lead), so concurrent purchases fought over the
--    same index pages. They go; the indexes listings, refunds, payouts and the once-per-lead
--    rule use stay. Deleting a company, currency, trigger, event, product or lead (which
--    neither the API nor the admin CLI does) now scans the referencing table.
-- 2. The foreign key from reward_events.currency to currencies share-locked the currency row
--    that every purchase of every channel references. It becomes (channels_id, currency) →
--    channels (id, currency): one check on the channel row, which the purchase already holds,
--    and a stronger guarantee (a reward is in its channel's currency).
-- 3. record_purchase writes the purchase, its event and its rewards and builds the answer in
--    one statement of data-modifying CTEs instead of a chain of plpgsql calls and statements.

drop index public.reward_events_currency_idx;
drop index public.reward_events_beneficiary_companies_id_idx;
drop index public.reward_events_reward_triggers_id_idx;
drop index public.reward_events_leads_id_idx;
drop index public.reward_events_events_id_idx;
drop index public.reward_events_refunds_id_idx;
drop index public.reward_events_reverses_reward_events_id_idx;
drop index public.events_companies_id_idx;
drop index public.events_channels_id_idx;
drop index public.purchases_products_id_idx;
drop index public.purchases_companies_id_idx;
-- Refund reversals are few: these serve the lookups from a refund or an original reward.
create index reward_events_refunds_id_idx on public.reward_events (refunds_id) where refunds_id is not null;
create index reward_events_reverses_idx on public.reward_events (reverses_reward_events_id)
  where reverses_reward_events_id is not null;

alter table public.channels add constraint channels_id_currency_key unique (id, currency);
alter table public.reward_events
  drop constraint reward_events_currency_fkey,
  drop constraint reward_events_channels_id_fkey,
  add constraint reward_events_channel_currency_fkey foreign key (channels_id, currency)
    references public.channels (id, currency);

-- internal.record_purchase, as before (see 20261126001200_money_out.sql): the same checks in
-- the same order and the same rows and answer, with the writes and the answer in one
-- statement. The rewards are computed as internal.reward_amount does (round(base × rate ×
-- 0.01) for percentages, the amount for fixed ones, to the currency's minor units; only those
-- > 0), with needs_review when the acting company is the beneficiary.
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
