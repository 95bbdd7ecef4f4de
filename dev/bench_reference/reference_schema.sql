-- The bench's yardstick: a plain create_purchase with the same steps as public.create_purchase
-- (API key by its SHA-256, the lead's channel and the caller's access to it, the product's
-- owner, one purchase, one `purchase` event, one reward per active purchase trigger, a JSON
-- answer) over a minimal schema of its own: no idempotency, no hold or status, no webhook
-- outbox, no input checks beyond what the casts do, nothing tuned. dev/bench_compare.ts loads it
-- into a database of its own and calls it with reference_call.sql. See README.md.

create table companies (
  id uuid primary key default gen_random_uuid(),
  name text not null
);

create table api_keys (
  id uuid primary key default gen_random_uuid(),
  companies_id uuid not null references companies,
  key_hash bytea not null unique,
  revoked_at timestamptz
);

create table currencies (
  code char(3) primary key,
  minor_units integer not null
);

create table channels (
  id uuid primary key default gen_random_uuid(),
  creator uuid references companies,
  partner uuid references companies,
  referring_id uuid references companies,
  receiving_id uuid references companies,
  currency char(3) not null default 'USD' references currencies
);

create table leads (
  id uuid primary key default gen_random_uuid(),
  channels_id uuid not null references channels,
  created_at timestamptz default now()
);
create index leads_channels_id_idx on leads (channels_id);

create table products (
  id uuid primary key default gen_random_uuid(),
  companies_id uuid not null references companies,
  name text
);

create table purchases (
  id uuid primary key default gen_random_uuid(),
  created_at timestamptz not null default now(),
  leads_id uuid not null references leads,
  products_id uuid references products,
  purchase_amount numeric,
  date timestamptz not null default now(),
  description text,
  companies_id uuid references companies
);
create index purchases_leads_id_idx on purchases (leads_id);

create table events (
  id uuid primary key default gen_random_uuid(),
  created_at timestamptz default now(),
  category text not null,
  channels_id uuid references channels,
  leads_id uuid references leads,
  purchases_id uuid references purchases,
  companies_id uuid,
  data jsonb
);
create index events_purchases_id_idx on events (purchases_id);
create index events_leads_id_idx on events (leads_id);

create table reward_triggers (
  id uuid primary key default gen_random_uuid(),
  channels_id uuid not null references channels,
  trigger text not null,
  reward_type text not null,
  amount numeric not null,
  status text not null default 'Active'
);
create index reward_triggers_active_idx on reward_triggers (channels_id, trigger) where status = 'Active';

create table reward_events (
  id uuid primary key default gen_random_uuid(),
  created_at timestamptz default now(),
  reward_triggers_id uuid references reward_triggers,
  channels_id uuid,
  leads_id uuid,
  purchases_id uuid references purchases,
  events_id uuid references events,
  amount numeric not null,
  currency char(3),
  reward_type text,
  rate numeric,
  base_amount numeric,
  beneficiary_companies_id uuid
);
create index reward_events_purchases_id_idx on reward_events (purchases_id);

create function create_purchase(p_key_hash bytea, p jsonb) returns jsonb
language plpgsql as $$
declare
  v_company uuid;
  v_lead record;
  v_purchase purchases;
  v_event uuid;
  v_trigger record;
  v_amount numeric;
begin
  select companies_id into v_company from api_keys where key_hash = p_key_hash and revoked_at is null;
  if v_company is null then
    raise exception using errcode = 'PT401', message = 'Invalid API key';
  end if;

  select l.id, c.id as channel_id, c.currency, c.referring_id, cur.minor_units into v_lead
  from leads l
  join channels c on c.id = l.channels_id
  join currencies cur on cur.code = c.currency
  where l.id = (p ->> 'lead_id')::uuid
    and v_company in (c.creator, c.partner, c.referring_id, c.receiving_id);
  if not found then
    raise exception using errcode = 'PT403', message = 'Lead not accessible';
  end if;

  if p ? 'product_id' and not exists (
    select 1 from products where id = (p ->> 'product_id')::uuid and companies_id = v_company
  ) then
    raise exception using errcode = 'PT403', message = 'Product not found or not owned by your company';
  end if;

  insert into purchases (leads_id, products_id, purchase_amount, date, description, companies_id)
  values (v_lead.id, (p ->> 'product_id')::uuid, (p ->> 'purchase_amount')::numeric,
    coalesce((p ->> 'date')::timestamptz, now()), p ->> 'description', v_company)
  returning * into v_purchase;

  insert into events (category, channels_id, leads_id, purchases_id, companies_id, data)
  values ('purchase', v_lead.channel_id, v_lead.id, v_purchase.id, v_company,
    jsonb_build_object('amount', v_purchase.purchase_amount))
  returning id into v_event;

  for v_trigger in
    select id, reward_type, amount from reward_triggers
    where channels_id = v_lead.channel_id and trigger = 'purchase' and status = 'Active'
  loop
    v_amount := case v_trigger.reward_type
      when 'fixed' then v_trigger.amount
      else round(coalesce(v_purchase.purchase_amount, 0) * v_trigger.amount / 100, v_lead.minor_units)
    end;
    if v_amount > 0 then
      insert into reward_events (reward_triggers_id, channels_id, leads_id, purchases_id, events_id, amount, currency,
        reward_type, rate, base_amount, beneficiary_companies_id)
      values (v_trigger.id, v_lead.channel_id, v_lead.id, v_purchase.id, v_event, v_amount, v_lead.currency,
        v_trigger.reward_type, v_trigger.amount, v_purchase.purchase_amount, v_lead.referring_id);
    end if;
  end loop;

  return jsonb_build_object('purchase', jsonb_build_object(
    'id', v_purchase.id,
    'created_at', v_purchase.created_at,
    'leads_id', v_purchase.leads_id,
    'products_id', v_purchase.products_id,
    'purchase_amount', v_purchase.purchase_amount,
    'date', v_purchase.date,
    'description', v_purchase.description
  ));
end
$$;

-- The fixture reference_call.sql uses: a key of the receiving company A, a USD channel A-B with
-- B referring, a lead, A's product, and a fixed 100 and a 10 % purchase trigger.
insert into currencies (code, minor_units) values ('USD', 2), ('JPY', 0), ('KWD', 3);
insert into companies (id, name) values
  ('00000000-0000-4000-8000-00000000000a', 'A'),
  ('00000000-0000-4000-8000-00000000000b', 'B');
insert into api_keys (companies_id, key_hash)
values ('00000000-0000-4000-8000-00000000000a', sha256(convert_to('bench-reference-key', 'UTF8')));
insert into channels (id, creator, referring_id, receiving_id)
values ('00000000-0000-4000-8000-0000000000c1', '00000000-0000-4000-8000-00000000000a',
  '00000000-0000-4000-8000-00000000000b', '00000000-0000-4000-8000-00000000000a');
insert into leads (id, channels_id)
values ('00000000-0000-4000-8000-0000000000d1', '00000000-0000-4000-8000-0000000000c1');
insert into products (id, companies_id, name)
values ('00000000-0000-4000-8000-0000000000e1', '00000000-0000-4000-8000-00000000000a', 'Plan');
insert into reward_triggers (channels_id, trigger, reward_type, amount) values
  ('00000000-0000-4000-8000-0000000000c1', 'purchase', 'fixed', 100),
  ('00000000-0000-4000-8000-0000000000c1', 'purchase', 'percentage', 10);
