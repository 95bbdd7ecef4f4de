-- Purchases and rewards: the tables purchases and reward_events, the reward status rule
-- (internal.reward_status, read through the view internal.reward_event_status), the purchase and
-- reward event objects, reward firing, and the actions create_purchase, create_purchase_custom,
-- get_purchases, get_reward_events, approve_rewards, reject_rewards and get_balances.
-- Refunds, which write reversals into reward_events, are in 07_refunds.sql.

-- Value rules as domains rather than CHECK constraints (see internal.event_category).
create domain internal.non_negative_amount as numeric check (value >= 0);
create domain internal.reward_type as text check (value in ('fixed', 'percentage'));
create domain internal.reward_decision as text check (value in ('pending', 'approved', 'rejected'));

-- (leads_id, channels_id) → leads checks the lead and that the purchase's channel is its lead's.
create table public.purchases (
  id uuid primary key default encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid()) placing
    substring(int8send((extract(epoch from clock_timestamp()) * 1000)::bigint) from 3) from 1 for 6), 52, 1), 53, 1),
    'hex')::uuid,
  created_at timestamptz not null default now(),
  leads_id uuid not null,
  channels_id uuid not null,
  products_id uuid references public.products (id),
  purchase_amount internal.non_negative_amount,
  date timestamptz not null default now(),
  description text,
  name text,
  companies_id uuid not null references public.companies (id),
  constraint purchases_lead_channel_fkey foreign key (leads_id, channels_id) references public.leads (id, channels_id),
  external_id text
);
create index purchases_leads_id_idx on public.purchases (leads_id, created_at desc, id desc);
create index purchases_channels_id_idx on public.purchases (channels_id, created_at desc, id desc);
-- external_id (the sale's id in the merchant's system) is unique per company that records it:
-- the arbiter of record_purchase's and import_purchases's `on conflict`, so concurrent repeats
-- never both write. external_id first, so get_purchases's external_id filter reads it too.
create unique index purchases_external_id_key on public.purchases (external_id, companies_id)
  where external_id is not null;
alter table public.purchases enable row level security;
revoke all on public.purchases from anon, authenticated;

alter table public.events add constraint events_purchases_id_fkey foreign key (purchases_id)
  references public.purchases (id);

-- A reward event: what a trigger paid (amount > 0), or, negative, the reversal of a reward by a
-- refund (refunds_id, reverses_reward_events_id; the key of refunds_id is in 07_refunds.sql).
-- The stored facts its status is derived from (internal.reward_status): status, the decision,
-- 'pending' (none yet), 'approved' or 'rejected' (approve_rewards, reject_rewards); needs_review:
-- created by the beneficiary's own action or by public intake, so time alone never approves it;
-- payouts_id: the pending or paid payout holding it (cleared when that payout is cancelled).
-- Keys: (channels_id, currency) → channels: the reward is in its channel's currency, checked on
-- the channel row the purchase already holds (a key to currencies would share-lock the currency
-- row every purchase references); (events_id, leads_id, channels_id) → events: the reward is on
-- its event's lead and channel, and the event's own key ties those to leads.
create table public.reward_events (
  id uuid primary key default encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid()) placing
    substring(int8send((extract(epoch from clock_timestamp()) * 1000)::bigint) from 3) from 1 for 6), 52, 1), 53, 1),
    'hex')::uuid,
  created_at timestamptz not null default now(),
  reward_triggers_id uuid references public.reward_triggers (id),
  channels_id uuid not null,
  leads_id uuid not null,
  purchases_id uuid references public.purchases (id),
  events_id uuid not null,
  amount numeric not null,
  currency char(3) not null,
  reward_type internal.reward_type not null,
  rate numeric,
  base_amount numeric,
  beneficiary_companies_id uuid references public.companies (id),
  status internal.reward_decision not null default 'pending'::text,
  refunds_id uuid,
  reverses_reward_events_id uuid references public.reward_events (id),
  needs_review boolean not null default false,
  decided_at timestamptz,
  rejection_reason text,
  payouts_id uuid references public.payouts (id),
  constraint reward_events_channel_currency_fkey foreign key (channels_id, currency)
    references public.channels (id, currency),
  constraint reward_events_event_fkey foreign key (events_id, leads_id, channels_id)
    references public.events (id, leads_id, channels_id)
);
-- Only the indexes a query uses: every index is written by every purchase.
create index reward_events_channels_id_idx on public.reward_events (channels_id, created_at desc, id desc);
create index reward_events_purchases_id_idx on public.reward_events (purchases_id);
-- new_lead and status_change rewards are paid at most once per trigger and lead, ever; the
-- lead row lock in update_status serialises writers, and this index makes it a guarantee.
create unique index reward_events_once_per_lead_idx on public.reward_events (reward_triggers_id, leads_id)
  where purchases_id is null;
create index reward_events_payouts_id_idx on public.reward_events (payouts_id) where payouts_id is not null;
-- Refund reversals are few: these serve the lookups from a refund or an original reward.
create index reward_events_refunds_id_idx on public.reward_events (refunds_id) where refunds_id is not null;
create index reward_events_reverses_idx on public.reward_events (reverses_reward_events_id)
  where reverses_reward_events_id is not null;
create index reward_events_lead_idx on public.reward_events (leads_id, created_at desc, id desc);
alter table public.reward_events enable row level security;
revoke all on public.reward_events from anon, authenticated;

-- internal.reward_status(status, needs_review, created_at, hold_days): the reward status rule,
-- the one place it is written: the status of a reward event that is in no payout and reverses
-- nothing, derived from stored facts at every read, so the hold period is exact without a
-- scheduled job: the decision ('approved', 'rejected') once there is one, else 'review' when it
-- needs one, else 'approved' once hold_days (the channel's current setting) have passed since
-- created_at, else 'pending'. internal.reward_event_status applies it to a reward and to the
-- original of a reversal; record_purchase to the rewards it creates.
-- An inlinable SQL function (its callers pay no call): hence no SET clause, which would stop
-- inlining; its body names pg_catalog's functions, and its operators resolve in pg_catalog,
-- which every search_path searches first. EXECUTE is the owner's alone.
create function internal.reward_status(status text, needs_review boolean, created_at timestamptz, hold_days integer)
returns text
language sql
stable
as $$
  select case
    when status <> 'pending' then status
    when needs_review then 'review'
    when created_at + pg_catalog.make_interval(days => hold_days) <= pg_catalog.now() then 'approved'
    else 'pending'
  end
$$;
revoke execute on function internal.reward_status(text, boolean, timestamptz, integer) from public;

-- The API's reward event objects as row types: row_to_json of a typed row writes the same
-- object as json_build_object with the same keys in the same order, at about two thirds of
-- the cost (the keys are not arguments to convert). The short form answers create_purchase;
-- the detailed one refunds, listings and approvals.
create type internal.reward_event_object as (id uuid, reward_triggers_id uuid, amount numeric, currency text,
  reward_type text, rate numeric, base_amount numeric, beneficiary_company_id uuid, status text);

create type internal.reward_event_detail as (id uuid, reward_triggers_id uuid, amount numeric, currency text,
  reward_type text, rate numeric, base_amount numeric, beneficiary_company_id uuid, created_at text, channels_id uuid,
  leads_id uuid, purchases_id uuid, refunds_id uuid, reverses_reward_events_id uuid, status text,
  rejection_reason text, payouts_id uuid);

-- internal.reward_event_status: every reward event with its status, its detailed object and its
-- bucket; every reader of a reward's status reads it here (get_reward_events, decide_rewards,
-- refund_purchase, get_balances, create_payout).
-- status: in a payout, 'paid' once the payout is paid, else 'approved'; a reversal (refund) in no
-- payout follows its original while the original is unpaid (same status; rejected with it) and
-- is 'approved' once the original is in a payout (a clawback for the next payout once that one is
-- paid); otherwise internal.reward_status.
-- bucket: where get_balances counts the reward event and whether create_payout may gather it:
-- 'in_payout' for a reward in a pending payout and for a reversal whose original is in one (it
-- waits on that payout: paid, it is a clawback; cancelled, it follows its original again);
-- 'approved' for a reversal whose original is paid; otherwise the status.
-- Invariant, per channel, beneficiary and currency: paid payouts + pending + review + approved
-- + in_payout = the sum of every reward event not rejected (tests/money_invariant_test.ts).
-- bucket is written as an expression of its own rather than derived from status: the view is
-- flattened into each query, so an expression reading status would evaluate status's subqueries
-- again. Each reader selects one of the two. Only the owner may read the view.
create view internal.reward_event_status with (security_invoker = true) as
select r.id, r.created_at, r.channels_id, r.leads_id, r.purchases_id, r.reward_triggers_id, r.reward_type, r.amount,
  r.currency, r.beneficiary_companies_id, r.payouts_id, r.reverses_reward_events_id, r.status_now as status,
  row_to_json(row(r.id, r.reward_triggers_id, r.amount, r.currency, r.reward_type, r.rate, r.base_amount,
    r.beneficiary_companies_id, internal.iso_time(r.created_at),
    r.channels_id, r.leads_id, r.purchases_id, r.refunds_id, r.reverses_reward_events_id, r.status_now,
    r.rejection_reason, r.payouts_id)::internal.reward_event_detail) as detail,
  r.bucket
from (
  select r.*, case
    when r.payouts_id is not null then
      case when (select p.status from public.payouts p where p.id = r.payouts_id) = 'paid' then 'paid' else 'approved' end
    when r.reverses_reward_events_id is not null then (
      select case
        when o.payouts_id is not null then 'approved'
        else internal.reward_status(o.status, o.needs_review, o.created_at, c.hold_days)
      end
      from public.reward_events o where o.id = r.reverses_reward_events_id)
    else internal.reward_status(r.status, r.needs_review, r.created_at, c.hold_days)
  end as status_now,
  case
    when r.payouts_id is not null then
      case when (select p.status from public.payouts p where p.id = r.payouts_id) = 'paid' then 'paid'
        else 'in_payout' end
    when r.reverses_reward_events_id is not null then (
      select case
        when o.payouts_id is not null then
          case when (select p.status from public.payouts p where p.id = o.payouts_id) = 'paid' then 'approved'
            else 'in_payout' end
        else internal.reward_status(o.status, o.needs_review, o.created_at, c.hold_days)
      end
      from public.reward_events o where o.id = r.reverses_reward_events_id)
    else internal.reward_status(r.status, r.needs_review, r.created_at, c.hold_days)
  end as bucket
  from public.reward_events r
  join public.channels c on c.id = r.channels_id
) r;
revoke all on internal.reward_event_status from public, anon, authenticated, service_role;

-- The Purchase object as row types (see internal.reward_event_object): the seed's keys, then
-- "name" (listings always show it), then "external_id" when the purchase has one.
create type internal.purchase_object as (id uuid, created_at text, leads_id uuid, products_id uuid,
  purchase_amount numeric, date text, description text, name text);
create type internal.purchase_object_external as (id uuid, created_at text, leads_id uuid, products_id uuid,
  purchase_amount numeric, date text, description text, name text, external_id text);

-- internal.purchase_objects: every purchase with its API object (with name, and external_id when
-- it has one), set-based like internal.lead_objects. get_purchases reads it. record_purchase
-- writes the same object with json_build_object: for one object, row_to_json of a typed row costs
-- more (1.2 % of create_purchase), where a listing gains from it.
create view internal.purchase_objects with (security_invoker = true) as
select p.id, p.leads_id, p.channels_id, p.created_at, p.external_id,
  case when p.external_id is null
    then row_to_json(row(p.id, internal.iso_time(p.created_at), p.leads_id, p.products_id, p.purchase_amount,
      internal.iso_time(p.date), p.description, p.name)::internal.purchase_object)
    else row_to_json(row(p.id, internal.iso_time(p.created_at), p.leads_id, p.products_id, p.purchase_amount,
      internal.iso_time(p.date), p.description, p.name, p.external_id)::internal.purchase_object_external)
  end as purchase
from public.purchases p;
revoke all on internal.purchase_objects from public, anon, authenticated, service_role;

-- internal.reward_amount(reward_type, amount, base, minor_units): what a trigger pays, in the
-- currency's minor units, rounded half away from zero (numeric round). fixed: the trigger's
-- amount. percentage: base × amount × 0.01 (a multiplication, exact in numeric, where a
-- division by 100 would round first); a missing base counts as 0. The one place the amount rule
-- is written: fire_rewards, record_purchase and refund_purchase (a reversal is the difference of
-- two percentage amounts) use it. Inlinable, hence no SET clause (see internal.reward_status).
create function internal.reward_amount(reward_type text, amount numeric, base numeric, minor_units integer)
returns numeric
language sql
immutable
as $$
  select pg_catalog.round(case reward_type when 'fixed' then amount else coalesce(base, 0) * amount * 0.01 end,
    minor_units)
$$;
revoke execute on function internal.reward_amount(text, numeric, numeric, integer) from public;

-- internal.fire_rewards(channel, trigger_ids, lead_id, purchase_id, event_id, base): the
-- new_lead and status_change rewards: inserts one reward_events row per trigger whose reward is
-- > 0, snapshotting the trigger's type and rate, the base amount, the channel currency and the
-- beneficiary (the channel's referring company). Returns the inserted rows. A reward created by
-- the beneficiary's own action (the event's company is the channel's referring company) or by
-- public intake (an event without company) needs review: it waits for approve_rewards instead of
-- the hold period. (record_purchase writes a purchase's rewards itself, in one statement.)
create function internal.fire_rewards(
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
revoke execute on function internal.fire_rewards(public.channels, uuid[], uuid, uuid, uuid, numeric) from public;

-- internal.purchase_trigger_ids(channel, requested): the purchase triggers to fire.
-- requested null → every Active purchase trigger of the channel; otherwise the requested
-- ids (duplicates ignored), each of which must be an Active purchase trigger of the channel,
-- else 400 "Trigger not found or not active on this channel: <first bad id>".
create function internal.purchase_trigger_ids(channel public.channels, requested uuid[])
returns uuid[]
language plpgsql
stable
set search_path = ''
as $$
declare
  v_bad uuid;
begin
  if requested is null then
    return array(
      select t.id from public.reward_triggers t
      where t.channels_id = channel.id and t.trigger = 'purchase' and t.status = 'Active'
    );
  end if;
  select r.id into v_bad
  from unnest(requested) with ordinality as r (id, n)
  where not exists (
    select 1 from public.reward_triggers t
    where t.id = r.id and t.channels_id = channel.id and t.trigger = 'purchase' and t.status = 'Active'
  )
  order by r.n
  limit 1;
  if v_bad is not null then
    perform internal.fail(400, 'trigger_not_found',
      'Trigger not found or not active on this channel: ' || v_bad::text);
  end if;
  return array(select distinct unnest(requested));
end;
$$;
revoke execute on function internal.purchase_trigger_ids(public.channels, uuid[]) from public;

-- internal.record_purchase(company, args, with_name): the purchase, its "purchase" event and
-- its reward events, for a company already authenticated. args as create_purchase.
-- Returns {"purchase": {...}, "reward_events": [...]}, "purchase" with "name" when with_name and
-- "external_id" when args has one;
-- the reward events in their short form (internal.reward_event_object), their status by
-- internal.reward_status (a new reward is in no payout and reverses nothing).
-- Errors: 403 Lead not accessible; 403 Only the receiving company can record purchases on this
-- channel; 403 Product not found or not owned by your company; 400 Trigger not found or not
-- active on this channel: <id>; 409 Purchase already recorded: <external_id> (with purchase_id).
-- It is the purchase path, measured by `deno task bench --action instructions`: one lookup reads
-- the lead, its channel (through the access rule) and the currency's minor units; the purchase
-- and its event are two plain inserts and the rewards one insert with their JSON; the rules it
-- applies (access, purchase writers, reward status, timestamp format) are inlinable SQL
-- functions, so none costs a call.
create function internal.record_purchase(company uuid, args jsonb, with_name boolean)
returns json
language plpgsql
set search_path = ''
as $$
declare
  v_lead_id uuid := (args ->> 'lead_id')::uuid;
  v_product_id uuid := (args ->> 'product_id')::uuid;
  v_channel_id uuid;
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
  select c.id, c.referring_id, c.receiving_id, c.currency, c.purchase_writers, c.hold_days, cur.minor_units
  into v_channel_id, v_referring, v_receiving, v_currency, v_writers, v_hold_days, v_minor_units
  from public.leads l
  join internal.accessible_channels(company) c on c.id = l.channels_id
  join public.currencies cur on cur.code = c.currency
  where l.id = v_lead_id;
  if v_channel_id is null then
    perform internal.fail(403, 'lead_not_accessible', 'Lead not accessible');
  end if;
  if not internal.may_record_purchases(v_writers, v_receiving, company) then
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

  -- With an external_id, a repeat writes nothing (a concurrent first one is waited for): 409 with
  -- the recorded purchase's id, read by the next statement, which sees what committed meanwhile.
  -- Without one, a plain insert: `on conflict` costs a speculative insertion (a lock and a WAL
  -- record) on every call.
  if args ? 'external_id' then
    insert into public.purchases (leads_id, channels_id, products_id, purchase_amount, date, description, name,
      companies_id, external_id)
    values (v_lead_id, v_channel_id, v_product_id, (args ->> 'purchase_amount')::numeric,
      coalesce((args ->> 'date')::timestamptz, now()), coalesce(args ->> 'description', args ->> 'product_description'),
      args ->> 'product_name', company, args ->> 'external_id')
    on conflict (external_id, companies_id) where external_id is not null do nothing
    returning * into v_purchase;
    if v_purchase.id is null then
      perform internal.fail(409, 'duplicate_external_id', 'Purchase already recorded: ' || (args ->> 'external_id'),
        json_build_object('purchase_id', (select p.id from public.purchases p
          where p.external_id = args ->> 'external_id' and p.companies_id = company)));
    end if;
  else
    insert into public.purchases (leads_id, channels_id, products_id, purchase_amount, date, description, name,
      companies_id)
    values (v_lead_id, v_channel_id, v_product_id, (args ->> 'purchase_amount')::numeric,
      coalesce((args ->> 'date')::timestamptz, now()), coalesce(args ->> 'description', args ->> 'product_description'),
      args ->> 'product_name', company)
    returning * into v_purchase;
  end if;
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
      select internal.reward_amount(t.reward_type, t.amount, v_purchase.purchase_amount, v_minor_units) as amount
    ) a
    -- Requested trigger_ids were checked above to be Active purchase triggers of this channel.
    where t.channels_id = v_channel_id and t.trigger = 'purchase' and t.status = 'Active'
      and (v_trigger_ids is null or t.id = any (v_trigger_ids))
      and a.amount > 0
    returning *
  )
  select json_agg(row_to_json(row(r.id, r.reward_triggers_id, r.amount, r.currency, r.reward_type, r.rate,
      r.base_amount, r.beneficiary_companies_id,
      internal.reward_status(r.status, r.needs_review, r.created_at, v_hold_days))::internal.reward_event_object)
    order by r.reward_type, r.reward_triggers_id)
  into v_rewards
  from reward r;
  -- The Purchase object (internal.purchase_objects writes the same keys): "name" when with_name,
  -- "external_id" when there is one. Two statements rather than one expression of four cases: a
  -- statement's expression is set up in every call that runs it, and the larger one cost 1.5 %
  -- of this path (docs/operations.md, "Benchmarks").
  if v_purchase.external_id is null then
    return json_build_object(
      'purchase', case when with_name
        then json_build_object('id', v_purchase.id,
          'created_at', internal.iso_time(v_purchase.created_at),
          'leads_id', v_purchase.leads_id, 'products_id', v_purchase.products_id,
          'purchase_amount', v_purchase.purchase_amount,
          'date', internal.iso_time(v_purchase.date),
          'description', v_purchase.description, 'name', v_purchase.name)
        else json_build_object('id', v_purchase.id,
          'created_at', internal.iso_time(v_purchase.created_at),
          'leads_id', v_purchase.leads_id, 'products_id', v_purchase.products_id,
          'purchase_amount', v_purchase.purchase_amount,
          'date', internal.iso_time(v_purchase.date),
          'description', v_purchase.description)
        end,
      'reward_events', coalesce(v_rewards, '[]'::json));
  end if;
  return json_build_object(
    'purchase', case when with_name
      then json_build_object('id', v_purchase.id,
        'created_at', internal.iso_time(v_purchase.created_at),
        'leads_id', v_purchase.leads_id, 'products_id', v_purchase.products_id,
        'purchase_amount', v_purchase.purchase_amount,
        'date', internal.iso_time(v_purchase.date),
        'description', v_purchase.description, 'name', v_purchase.name, 'external_id', v_purchase.external_id)
      else json_build_object('id', v_purchase.id,
        'created_at', internal.iso_time(v_purchase.created_at),
        'leads_id', v_purchase.leads_id, 'products_id', v_purchase.products_id,
        'purchase_amount', v_purchase.purchase_amount,
        'date', internal.iso_time(v_purchase.date),
        'description', v_purchase.description, 'external_id', v_purchase.external_id)
      end,
    'reward_events', coalesce(v_rewards, '[]'::json));
end;
$$;
revoke execute on function internal.record_purchase(uuid, jsonb, boolean) from public;

-- public.create_purchase(key_hash, args): records a purchase against a lead. args (validated
-- by the edge function): lead_id (required), product_id, purchase_amount, date, description,
-- product_name, product_description, trigger_ids. Returns {"purchase": {...}, "reward_events":
-- [...]}, the purchase with "name" when product_name was sent.
-- Errors: 401 Invalid API key, and those of record_purchase.
create function public.create_purchase(key_hash text, args jsonb)
returns json
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  return internal.record_purchase(internal.company_for_key(key_hash), args, args ? 'product_name');
end;
$$;
revoke execute on function public.create_purchase(text, jsonb) from public, anon, authenticated;
grant execute on function public.create_purchase(text, jsonb) to service_role;

-- public.create_purchase_custom(key_hash, args): a purchase of a free-text product. args:
-- lead_id (required), product_name, product_description, purchase_amount, date,
-- trigger_ids; no catalog product. Returns {"purchase": {..., "name"}}.
create function public.create_purchase_custom(key_hash text, args jsonb)
returns json
language plpgsql
security definer
set search_path = ''
as $$
begin
  return internal.record_purchase(internal.company_for_key(key_hash), args - 'product_id' - 'description', true);
end;
$$;
revoke execute on function public.create_purchase_custom(text, jsonb) from public, anon, authenticated;
grant execute on function public.create_purchase_custom(text, jsonb) to service_role;

-- public.import_purchases(key_hash, args): records up to 1,000 purchases on one channel, each
-- row recorded or refused on its own, in one transaction and set-based (no statement per row).
-- args (validated by the edge function): channel_id, purchases: rows of create_purchase's
-- fields with external_id, or {"invalid": <message>} for a row that failed validation.
-- The key, the channel's access and the purchase-writer rule are checked once for the batch
-- (403 Channel not accessible; 403 Only the receiving company can record purchases on this
-- channel). Per row, in create_purchase's order and with its messages: the row's validation
-- error; Lead not accessible (no such lead on channel_id); Product not found or not owned by your
-- company; Trigger not found or not active on this channel: <id>; then external_id: one already
-- recorded by the company, or repeated in the batch after a row that is recorded, is a
-- "duplicate" with the recorded purchase's id. The rows recorded get a purchase, a "purchase"
-- event and their rewards as create_purchase writes them (the same access, purchase-writer,
-- reward amount and reward status rules), the rewards computed by one join of the rows with the
-- channel's purchase triggers. Purchases are inserted in external_id order with
-- `on conflict do nothing`, so concurrent imports and create_purchase calls never both write an
-- external_id and overlapping batches do not deadlock.
-- Plans: the planner cannot know how many rows a batch has (jsonb_to_recordset and the CTEs
-- built on it are estimated at one to a hundred rows), and with those estimates it joins the
-- CTEs (rows, purchases, events) by nested loops, which grow with the square of the batch (a
-- 1,000-row batch took over a second). enable_nestloop = off makes those joins hash joins; the
-- lookups of existing rows (a lead, a product, a recorded purchase, a trigger) are lateral
-- subqueries with `limit 1`, which stay index lookups per row; jit = off, since the disabled
-- nested loops' cost would otherwise start JIT compilation.
-- Returns {"results": [{"index", "status": "created", "purchase_id", "reward_events"} |
-- {"index", "status": "duplicate", "purchase_id"} | {"index", "status": "error", "error",
-- "code"}], "created", "duplicates", "errors"}, the results in row order.
create function public.import_purchases(key_hash text, args jsonb)
returns json
language plpgsql
security definer
set search_path = ''
set enable_nestloop = off
set jit = off
as $$
declare
  v_company uuid := internal.company_for_key(key_hash);
  v_channel public.channels := internal.accessible_channel(v_company, (args ->> 'channel_id')::uuid);
  v_minor_units integer;
  v_rows json;
begin
  if not internal.may_record_purchases(v_channel.purchase_writers, v_channel.receiving_id, v_company) then
    perform internal.fail(403, 'purchase_not_permitted',
      'Only the receiving company can record purchases on this channel');
  end if;
  select cur.minor_units into v_minor_units from public.currencies cur where cur.code = v_channel.currency;

  -- What each row became: its error, or the purchase it recorded with its rewards, or neither
  -- (a duplicate, whose recorded purchase the next statement reads: it sees what a concurrent
  -- import committed meanwhile).
  with input as (
    select r.n - 1 as index, r.invalid, r.lead_id, r.product_id, r.purchase_amount, r.date, r.description,
      r.product_name, r.product_description, r.trigger_ids, r.external_id
    from rows from (jsonb_to_recordset(args -> 'purchases') as (invalid text, lead_id uuid, product_id uuid,
      purchase_amount numeric, date timestamptz, description text, product_name text, product_description text,
      trigger_ids uuid[], external_id text)) with ordinality as r (invalid, lead_id, product_id, purchase_amount,
      date, description, product_name, product_description, trigger_ids, external_id, n)
  ), checked as (
    select i.*, case
        when i.invalid is not null then i.invalid
        when l.id is null then 'Lead not accessible'
        when i.product_id is not null and p.id is null then 'Product not found or not owned by your company'
        when bad.id is not null then 'Trigger not found or not active on this channel: ' || bad.id::text
      end as error,
      case
        when i.invalid is not null then 'invalid_request'
        when l.id is null then 'lead_not_accessible'
        when i.product_id is not null and p.id is null then 'product_not_owned'
        when bad.id is not null then 'trigger_not_found'
      end as code
    from input i
    left join lateral (
      select l.id from public.leads l where l.id = i.lead_id and l.channels_id = v_channel.id limit 1
    ) l on true
    left join lateral (
      select p.id from public.products p where p.id = i.product_id and p.companies_id = v_company limit 1
    ) p on true
    left join lateral (
      select t.id from unnest(i.trigger_ids) with ordinality as t (id, n)
      where not exists (
        select 1 from public.reward_triggers rt
        where rt.id = t.id and rt.channels_id = v_channel.id and rt.trigger = 'purchase' and rt.status = 'Active'
      )
      order by t.n limit 1
    ) bad on true
  ), firsts as (
    select distinct on (c.external_id) c.*
    from checked c where c.error is null
    order by c.external_id, c.index
  ), purchase as (
    insert into public.purchases (leads_id, channels_id, products_id, purchase_amount, date, description, name,
      companies_id, external_id)
    select f.lead_id, v_channel.id, f.product_id, f.purchase_amount, coalesce(f.date, now()),
      coalesce(f.description, f.product_description), f.product_name, v_company, f.external_id
    from firsts f
    order by f.external_id
    on conflict (external_id, companies_id) where external_id is not null do nothing
    returning id, leads_id, purchase_amount, external_id
  ), event as (
    insert into public.events (category, channels_id, leads_id, purchases_id, companies_id, data)
    select 'purchase', v_channel.id, p.leads_id, p.id, v_company,
      jsonb_build_object('purchase_amount', p.purchase_amount, 'currency', v_channel.currency)
    from purchase p
    returning id, purchases_id
  ), reward as (
    insert into public.reward_events (reward_triggers_id, channels_id, leads_id, purchases_id, events_id, amount,
      currency, reward_type, rate, base_amount, beneficiary_companies_id, needs_review)
    select t.id, v_channel.id, p.leads_id, p.id, e.id, a.amount, v_channel.currency, t.reward_type,
      case when t.reward_type = 'percentage' then t.amount end, p.purchase_amount, v_channel.referring_id,
      v_company = v_channel.referring_id
    from purchase p
    join event e on e.purchases_id = p.id
    join firsts f on f.external_id = p.external_id
    -- Requested trigger_ids were checked above to be Active purchase triggers of this channel.
    join public.reward_triggers t on t.channels_id = v_channel.id and t.trigger = 'purchase' and t.status = 'Active'
      and (f.trigger_ids is null or t.id = any (f.trigger_ids))
    cross join lateral (
      select internal.reward_amount(t.reward_type, t.amount, p.purchase_amount, v_minor_units) as amount
    ) a
    where a.amount > 0
    returning *
  ), rewards as (
    select r.purchases_id, json_agg(row_to_json(row(r.id, r.reward_triggers_id, r.amount, r.currency, r.reward_type,
        r.rate, r.base_amount, r.beneficiary_companies_id,
        internal.reward_status(r.status, r.needs_review, r.created_at, v_channel.hold_days))::internal.reward_event_object)
      order by r.reward_type, r.reward_triggers_id) as list
    from reward r
    group by r.purchases_id
  )
  select json_agg(json_build_object('index', c.index, 'external_id', c.external_id, 'error', c.error, 'code', c.code,
      'purchase_id', p.id, 'reward_events', coalesce(rw.list, '[]'::json)) order by c.index)
  into v_rows
  from checked c
  left join firsts f on f.index = c.index
  left join purchase p on f.index is not null and p.external_id = c.external_id
  left join rewards rw on rw.purchases_id = p.id;

  return (
    select json_build_object(
      'results', json_agg(case
          when x.error is not null then
            json_build_object('index', x.index, 'status', 'error', 'error', x.error, 'code', x.code)
          when x.purchase_id is not null then
            json_build_object('index', x.index, 'status', 'created', 'purchase_id', x.purchase_id,
              'reward_events', x.reward_events)
          else json_build_object('index', x.index, 'status', 'duplicate', 'purchase_id', d.id)
        end order by x.index),
      'created', count(*) filter (where x.error is null and x.purchase_id is not null),
      'duplicates', count(*) filter (where x.error is null and x.purchase_id is null),
      'errors', count(*) filter (where x.error is not null))
    from json_to_recordset(v_rows) as x (index integer, external_id text, error text, code text, purchase_id uuid,
      reward_events json)
    left join lateral (
      select d.id from public.purchases d
      where x.error is null and x.purchase_id is null and d.external_id = x.external_id and d.companies_id = v_company
      limit 1
    ) d on true
  );
end;
$$;
revoke execute on function public.import_purchases(text, jsonb) from public, anon, authenticated;
grant execute on function public.import_purchases(text, jsonb) to service_role;

-- public.get_purchases(key_hash, args): {"purchases": [...], "next_cursor"}, newest first.
-- args: lead_id and/or channel_id (at least one), external_id (a filter), limit 1-100 (default
-- 100), cursor.
-- Errors: 403 Lead not accessible / Channel not accessible; 400 cursor is invalid.
-- Reads internal.purchase_objects by external_id's index when one is given (lead and channel are
-- then filters), else by the lead's index when a lead is given (then the channel, if given too, is
-- a filter), else by the channel's; each combination of filters is a statement of its own, whose
-- generic plan is the right one (planned like get_leads).
create function public.get_purchases(key_hash text, args jsonb)
returns json
language plpgsql
stable
security definer
set search_path = ''
set plan_cache_mode = force_generic_plan
set jit = off
as $$
declare
  v_company uuid := internal.company_for_key(key_hash);
  v_lead_id uuid := (args ->> 'lead_id')::uuid;
  v_channel_id uuid := (args ->> 'channel_id')::uuid;
  v_external_id text := args ->> 'external_id';
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
  if v_external_id is not null then
    select array_agg(p.purchase order by p.created_at desc, p.id desc),
      array_agg(p.created_at order by p.created_at desc, p.id desc), array_agg(p.id order by p.created_at desc, p.id desc)
    into v_items, v_times, v_ids
    from (
      select p.purchase, p.created_at, p.id from internal.purchase_objects p
      where p.external_id = v_external_id and (v_lead_id is null or p.leads_id = v_lead_id)
        and (v_channel_id is null or p.channels_id = v_channel_id)
        and (p.created_at, p.id) < (v_after_created_at, v_after_id)
      order by p.created_at desc, p.id desc limit v_limit + 1
    ) p;
  elsif v_lead_id is not null then
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
revoke execute on function public.get_purchases(text, jsonb) from public, anon, authenticated;
grant execute on function public.get_purchases(text, jsonb) to service_role;

-- public.get_reward_events(key_hash, args): {"reward_events": [...], "next_cursor"}, newest
-- first, detailed form. args: channel_id (required), lead_id, purchase_id (filters), limit,
-- cursor. Errors: 403 Channel not accessible; 400 cursor is invalid.
-- Each combination of filters has a statement of its own whose generic plan is the right one
-- (the page's index scan, from the cursor on; the purchase index when a purchase is given),
-- planned once per session (plan_cache_mode force_generic_plan): a query with optional filters
-- ("v_lead_id is null or …") cannot use the cursor as an index condition nor the purchase index
-- in a generic plan. Without a cursor, internal.decode_cursor gives a start every row sorts
-- before, so the cursor is always an index condition.
create function public.get_reward_events(key_hash text, args jsonb)
returns json
language plpgsql
stable
security definer
set search_path = ''
set plan_cache_mode = force_generic_plan
set jit = off
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
revoke execute on function public.get_reward_events(text, jsonb) from public, anon, authenticated;
grant execute on function public.get_reward_events(text, jsonb) to service_role;

-- internal.decide_rewards(key_hash, args, decision): approve_rewards (decision 'approved':
-- pending/review → approved) and reject_rewards ('rejected': pending/review/approved →
-- rejected, with args.reason), receiving company only. The named reward events are locked;
-- one that is not a reward event of the channel → 404 for the first such id, nothing changes.
-- A reward in any other status, in a payout (pending or paid), or a reversal (which follows its
-- original: decide the original) is listed under "skipped" with its status.
-- Returns {"reward_events": [changed, detailed], "skipped": [{"id", "status"}]}. The statuses
-- come from internal.reward_event_status, and the changed reward events' objects are read from
-- it after the update.
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

-- public.get_balances(key_hash, args): {"balances": [{currency, pending, review, approved,
-- in_payout, paid, rejected}]}, per currency of the channel's reward events (reversals
-- included), sums of amounts by internal.reward_event_status's bucket. Any party of the
-- channel. Errors: 403 Channel not accessible.
-- The sums are grouped by currency and bucket first, so each reward event's bucket is computed
-- once (with one filtered sum per bucket straight over the view, each would be computed six
-- times; docs/operations.md, "Benchmarks").
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
      select g.currency,
        coalesce(sum(g.amount) filter (where g.bucket = 'pending'), 0) as pending,
        coalesce(sum(g.amount) filter (where g.bucket = 'review'), 0) as review,
        coalesce(sum(g.amount) filter (where g.bucket = 'approved'), 0) as approved,
        coalesce(sum(g.amount) filter (where g.bucket = 'in_payout'), 0) as in_payout,
        coalesce(sum(g.amount) filter (where g.bucket = 'paid'), 0) as paid,
        coalesce(sum(g.amount) filter (where g.bucket = 'rejected'), 0) as rejected
      from (
        select v.currency, v.bucket, sum(v.amount) as amount
        from internal.reward_event_status v
        where v.channels_id = v_channel.id
        group by v.currency, v.bucket
      ) g
      group by g.currency
    ) t
  ), '[]'::json));
end;
$$;
revoke execute on function public.get_balances(text, jsonb) from public, anon, authenticated;
grant execute on function public.get_balances(text, jsonb) to service_role;
