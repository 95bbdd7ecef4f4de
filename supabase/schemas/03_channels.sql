-- Channels: the tables channels, lead_status, property_definitions and reward_triggers (a
-- channel's configuration), and the rules of who may do what on a channel: the channel access
-- rule (internal.accessible_channels), the purchase-writer rule (internal.may_record_purchases)
-- and the receiving-only actions (internal.require_receiving); the Channel object and
-- public.get_channels.

-- purchase_writers: 'receiving' (the merchant alone records sales and refunds) or 'any' (every
-- party). Every channel starts as 'receiving': the beneficiary of the rewards must not mint its
-- own (`channel update --purchase-writers any` allows every party on one channel).
-- hold_days: how long a reward stays `pending` before it is payable. intake_per_minute: public
-- intake leads per client address per minute. webhook_money: the URL of the money webhooks
-- (11_money_webhooks.sql; last, as it was added after the others).
create table public.channels (
  id uuid primary key default gen_random_uuid(),
  uuid uuid not null unique default gen_random_uuid(),
  title text not null,
  created_at timestamptz not null default now(),
  creator uuid references public.companies (id),
  partner uuid references public.companies (id),
  referring_id uuid references public.companies (id),
  receiving_id uuid references public.companies (id),
  currency char(3) not null default 'USD' references public.currencies (code),
  no_auth_api boolean not null default false,
  webhook_new_lead text,
  webhook_status_update text,
  webhook_secret text,
  purchase_writers text not null default 'receiving' check (purchase_writers in ('receiving', 'any')),
  hold_days integer not null default 30 check (hold_days between 0 and 3650),
  intake_per_minute integer not null default 10 check (intake_per_minute between 1 and 10000),
  webhook_money text
);
-- The role indexes serve internal.accessible_channels (public.get_channels).
create index channels_creator_idx on public.channels (creator);
create index channels_partner_idx on public.channels (partner);
create index channels_referring_id_idx on public.channels (referring_id);
create index channels_receiving_id_idx on public.channels (receiving_id);
create index channels_currency_idx on public.channels (currency);
-- (id, currency) is unique so that a reward event's key (channels_id, currency) proves the reward
-- is in its channel's currency with one check on the channel row. Declared after the indexes
-- above: see leads_id_channels_id_key (04_leads.sql).
alter table public.channels add constraint channels_id_currency_key unique (id, currency);
alter table public.channels enable row level security;
revoke all on public.channels from anon, authenticated;

create table public.lead_status (
  id uuid primary key default gen_random_uuid(),
  channels_id uuid not null references public.channels (id) on delete cascade,
  status text not null,
  "order" integer not null default 0,
  visible boolean not null default true,
  color text,
  created_at timestamptz not null default now(),
  unique (channels_id, status)
);
alter table public.lead_status enable row level security;
revoke all on public.lead_status from anon, authenticated;

create table public.property_definitions (
  id uuid primary key default gen_random_uuid(),
  channels_id uuid not null references public.channels (id) on delete cascade,
  name text not null,
  type text not null default 'text' check (type in ('text', 'number', 'select')),
  "order" integer not null default 0,
  visible boolean not null default true,
  active boolean not null default true,
  created_at timestamptz not null default now()
);
create index property_definitions_channels_id_idx on public.property_definitions (channels_id);
alter table public.property_definitions enable row level security;
revoke all on public.property_definitions from anon, authenticated;

create table public.reward_triggers (
  id uuid primary key default gen_random_uuid(),
  channels_id uuid not null references public.channels (id) on delete cascade,
  name text,
  trigger text not null check (trigger in ('purchase', 'new_lead', 'status_change')),
  lead_status_id uuid references public.lead_status (id),
  reward_type text not null check (reward_type in ('fixed', 'percentage')),
  amount numeric not null check (amount >= 0),
  status text not null default 'Active' check (status in ('Active', 'Inactive')),
  created_at timestamptz not null default now(),
  check ((trigger = 'status_change') = (lead_status_id is not null))
);
-- The firing lookup: a channel's active triggers of one kind.
create index reward_triggers_channels_id_idx on public.reward_triggers (channels_id, trigger, status);
create index reward_triggers_lead_status_id_idx on public.reward_triggers (lead_status_id);
alter table public.reward_triggers enable row level security;
revoke all on public.reward_triggers from anon, authenticated;

-- internal.accessible_channels(company): the channel access rule of the API, the one place it
-- is written. A company may act on a channel when it is its creator, partner, referring or
-- receiving company. Every reader of a channel on behalf of a company reads it through here:
-- get_channels (all of them), accessible_channel, accessible_lead, lead_channel, record_purchase,
-- refund_purchase and pending_payout (one, by id; a channel that does not exist and one the
-- company may not act on both give no row).
-- An inlinable SQL function: the planner replaces the call by its query, so a lookup by id is a
-- primary key scan with the rule as a filter and get_channels's lookup uses the role indexes (a
-- null role only fails to match: "in" over a list with a null is null, which a where clause
-- treats as false). Hence no SET clause, which would stop inlining; its callers are security
-- definer functions with search_path '' (EXECUTE is the owner's alone), and its body names every
-- relation with its schema.
create function internal.accessible_channels(company uuid)
returns setof public.channels
language sql
stable
as $$
  select c.* from public.channels c where company in (c.creator, c.partner, c.referring_id, c.receiving_id)
$$;
revoke execute on function internal.accessible_channels(uuid) from public;

-- internal.accessible_channel(company, channel_id): a channel the company may act on, else
-- 403 "Channel not accessible" (also for a channel that does not exist).
create function internal.accessible_channel(company uuid, channel_id uuid)
returns public.channels
language plpgsql
stable
set search_path = ''
as $$
declare
  v_channel public.channels;
begin
  select c.* into v_channel from internal.accessible_channels(company) c where c.id = accessible_channel.channel_id;
  if v_channel.id is null then
    perform internal.fail(403, 'channel_not_accessible', 'Channel not accessible');
  end if;
  return v_channel;
end;
$$;
revoke execute on function internal.accessible_channel(uuid, uuid) from public;

-- internal.may_record_purchases(purchase_writers, receiving_id, company): the purchase-writer
-- rule, the one place it is written: with purchase_writers 'receiving', only the receiving
-- company may record purchases and refunds (record_purchase, refund_purchase: 403 "Only the
-- receiving company can record purchases on this channel" otherwise); with 'any', every party
-- may. Never null. Inlinable, hence no SET clause (see internal.accessible_channels); its body
-- calls no function.
create function internal.may_record_purchases(purchase_writers text, receiving_id uuid, company uuid)
returns boolean
language sql
immutable
as $$
  select purchase_writers <> 'receiving' or receiving_id is not distinct from company
$$;
revoke execute on function internal.may_record_purchases(text, uuid, uuid) from public;

-- internal.require_receiving(channel, company): the receiving-only actions (approvals, payouts;
-- docs/guide.md) answer 403 to every other party.
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

-- internal.channel_json(channel): the API's Channel object, with its active property
-- definitions and its statuses, each ordered by "order".
create function internal.channel_json(c public.channels)
returns json
language plpgsql
stable
set search_path = ''
as $$
begin
  return json_build_object(
    'id', c.id,
    'title', c.title,
    'created_at', internal.iso_time(c.created_at),
    'referring_id', c.referring_id,
    'receiving_id', c.receiving_id,
    'creator', c.creator,
    'partner', c.partner,
    'currency', c.currency,
    'no_auth_api', c.no_auth_api,
    'property_definitions', coalesce((
      select json_agg(json_build_object('id', d.id, 'name', d.name, 'type', d.type, 'order', d."order",
        'visible', d.visible) order by d."order", d.created_at, d.id)
      from public.property_definitions d where d.channels_id = c.id and d.active
    ), '[]'::json),
    'lead_status', coalesce((
      select json_agg(json_build_object('id', s.id, 'status', s.status, 'order', s."order",
        'visible', s.visible, 'color', s.color) order by s."order", s.created_at, s.id)
      from public.lead_status s where s.channels_id = c.id
    ), '[]'::json)
  );
end;
$$;
revoke execute on function internal.channel_json(public.channels) from public;

-- public.get_channels(key_hash, args): {"channels": [Channel]}, every channel the company
-- takes part in, oldest first.
create function public.get_channels(key_hash text, args jsonb)
returns json
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_company uuid := internal.company_for_key(key_hash);
begin
  return json_build_object('channels', coalesce((
    select json_agg(internal.channel_json(c) order by c.created_at, c.id)
    from internal.accessible_channels(v_company) c
  ), '[]'::json));
end;
$$;
revoke execute on function public.get_channels(text, jsonb) from public, anon, authenticated;
grant execute on function public.get_channels(text, jsonb) to service_role;
