-- Sales from Stripe (docs/guide.md, "Recording sales from Stripe"): a receiving company's
-- connections (a Stripe webhook signing secret for one channel), the log of Stripe events, each
-- processed once, the sales and refunds Stripe announced, the customers attributed to a lead,
-- and the actions connect_stripe, get_unmatched_sales, attach_sale and dismiss_sale.
-- A sale is recorded through internal.record_purchase and a refund through
-- internal.record_refund, the SQL of create_purchase and refund_purchase: a purchase is one row
-- whichever way it came (external_id: the invoice id, or the payment intent id of a one-off
-- payment; a refund's: the Stripe refund id).

-- signing_secret: Stripe's webhook signing secret (whsec_…), read only by
-- public.stripe_signing_secret to verify a request; no action or command prints it.
create table public.stripe_connections (
  id uuid primary key default gen_random_uuid(),
  created_at timestamptz not null default now(),
  companies_id uuid not null references public.companies (id),
  channels_id uuid not null references public.channels (id),
  signing_secret text not null,
  disconnected_at timestamptz
);
create index stripe_connections_channels_id_idx on public.stripe_connections (channels_id);
create index stripe_connections_companies_id_idx on public.stripe_connections (companies_id);
alter table public.stripe_connections enable row level security;
revoke all on public.stripe_connections from anon, authenticated;

-- Every Stripe event a connection received, once: the primary key makes a repeat (a retry, or a
-- concurrent duplicate, which waits for the first) write nothing. outcome: what it did
-- ('purchase', 'refund', 'unmatched', 'attributed', 'linked', 'pending', 'ignored'); detail: why.
create table public.stripe_events (
  connections_id uuid not null references public.stripe_connections (id),
  event_id text not null,
  created_at timestamptz not null default now(),
  type text not null,
  outcome text not null,
  detail text,
  primary key (connections_id, event_id)
);
alter table public.stripe_events enable row level security;
revoke all on public.stripe_events from anon, authenticated;

-- A Stripe customer attributed to a lead (by a Checkout session, metadata or email): its later
-- invoices go to the same lead.
create table public.stripe_customers (
  connections_id uuid not null references public.stripe_connections (id),
  customer text not null,
  leads_id uuid not null references public.leads (id),
  created_at timestamptz not null default now(),
  primary key (connections_id, customer)
);
create index stripe_customers_leads_id_idx on public.stripe_customers (leads_id);
alter table public.stripe_customers enable row level security;
revoke all on public.stripe_customers from anon, authenticated;

-- Every sale Stripe announced, by its external_id (invoice or payment intent id; null when the
-- shape was not understood). status: 'recorded' (a purchase), 'unmatched' (waiting, with its
-- reason: no_lead, multiple_leads, currency, unknown_shape), 'attached' (recorded later, by
-- attach_sale or a late attribution), 'dismissed' (dismiss_sale). amount: in the currency's
-- units, converted from Stripe's minor units (internal.stripe_amount).
create table public.stripe_sales (
  id uuid primary key default gen_random_uuid(),
  created_at timestamptz not null default now(),
  connections_id uuid not null references public.stripe_connections (id),
  external_id text,
  event_id text not null,
  payment_intent text,
  charge text,
  customer text,
  email text,
  amount numeric,
  currency text,
  date timestamptz,
  status text not null check (status in ('recorded', 'unmatched', 'attached', 'dismissed')),
  reason text check (reason in ('no_lead', 'multiple_leads', 'currency', 'unknown_shape')),
  purchases_id uuid references public.purchases (id),
  dismiss_reason text,
  resolved_at timestamptz
);
create unique index stripe_sales_external_id_key on public.stripe_sales (connections_id, external_id)
  where external_id is not null;
create index stripe_sales_payment_intent_idx on public.stripe_sales (connections_id, payment_intent)
  where payment_intent is not null;
create index stripe_sales_charge_idx on public.stripe_sales (connections_id, charge) where charge is not null;
create index stripe_sales_customer_idx on public.stripe_sales (connections_id, customer) where status = 'unmatched';
create index stripe_sales_unmatched_idx on public.stripe_sales (connections_id, created_at desc, id desc)
  where status = 'unmatched';
create index stripe_sales_purchases_id_idx on public.stripe_sales (purchases_id);
alter table public.stripe_sales enable row level security;
revoke all on public.stripe_sales from anon, authenticated;

-- Every succeeded Stripe refund, once: 'recorded' (refunds_id), 'pending' (its sale is not
-- recorded yet: unmatched, or not arrived; recorded when it is) or 'refused' (detail: why).
create table public.stripe_refunds (
  connections_id uuid not null references public.stripe_connections (id),
  refund_id text not null,
  created_at timestamptz not null default now(),
  payment_intent text,
  charge text,
  amount numeric not null,
  currency text not null,
  status text not null check (status in ('recorded', 'pending', 'refused')),
  refunds_id uuid references public.refunds (id),
  detail text,
  primary key (connections_id, refund_id)
);
create index stripe_refunds_refunds_id_idx on public.stripe_refunds (refunds_id);
alter table public.stripe_refunds enable row level security;
revoke all on public.stripe_refunds from anon, authenticated;

-- Which payment paid an invoice (invoice_payment.paid; older API versions carry it on the
-- invoice), so that a refund of that payment finds the invoice's purchase, in any order.
create table public.stripe_invoice_payments (
  connections_id uuid not null references public.stripe_connections (id),
  invoice text not null,
  payment_intent text,
  charge text,
  created_at timestamptz not null default now()
);
create unique index stripe_invoice_payments_key on public.stripe_invoice_payments
  (connections_id, invoice, coalesce(payment_intent, ''), coalesce(charge, ''));
alter table public.stripe_invoice_payments enable row level security;
revoke all on public.stripe_invoice_payments from anon, authenticated;

-- internal.stripe_amount(minor, currency): a Stripe amount (an integer JSON number in the
-- currency's minor unit as Stripe defines it) in the currency's units, exactly; null for
-- anything else. Zero-decimal: BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF UGX VND VUV XAF XOF XPF;
-- three-decimal: BHD JOD KWD OMR TND; every other currency two-decimal, ISK, HUF and TWD
-- included (Stripe's special cases: whole units, or zero-decimal payouts, but amounts in the
-- API stay two-decimal).
create function internal.stripe_amount(minor jsonb, currency text)
returns numeric
language sql
immutable
set search_path = ''
as $$
  select case when pg_catalog.jsonb_typeof(minor) = 'number' and (minor #>> '{}') ~ '^[0-9]{1,18}$' then
    pg_catalog.round((minor #>> '{}')::numeric / pg_catalog.power(10::numeric, case
      when pg_catalog.upper(currency) in ('BIF', 'CLP', 'DJF', 'GNF', 'JPY', 'KMF', 'KRW', 'MGA', 'PYG', 'RWF', 'UGX',
        'VND', 'VUV', 'XAF', 'XOF', 'XPF') then 0
      when pg_catalog.upper(currency) in ('BHD', 'JOD', 'KWD', 'OMR', 'TND') then 3
      else 2 end), case
      when pg_catalog.upper(currency) in ('BIF', 'CLP', 'DJF', 'GNF', 'JPY', 'KMF', 'KRW', 'MGA', 'PYG', 'RWF', 'UGX',
        'VND', 'VUV', 'XAF', 'XOF', 'XPF') then 0
      when pg_catalog.upper(currency) in ('BHD', 'JOD', 'KWD', 'OMR', 'TND') then 3
      else 2 end)
  end
$$;
revoke execute on function internal.stripe_amount(jsonb, text) from public;

-- internal.stripe_id(value): a Stripe id, whether the field holds it or the expanded object.
create function internal.stripe_id(value jsonb)
returns text
language sql
immutable
set search_path = ''
as $$
  select case pg_catalog.jsonb_typeof(value)
    when 'string' then value #>> '{}'
    when 'object' then case when pg_catalog.jsonb_typeof(value -> 'id') = 'string' then value ->> 'id' end
  end
$$;
revoke execute on function internal.stripe_id(jsonb) from public;

-- internal.stripe_text(value): a JSON string's text, else null.
create function internal.stripe_text(value jsonb)
returns text
language sql
immutable
set search_path = ''
as $$
  select case when pg_catalog.jsonb_typeof(value) = 'string' then value #>> '{}' end
$$;
revoke execute on function internal.stripe_text(jsonb) from public;

-- internal.stripe_lead(connection, lead_ids, customer, email): the lead a sale goes to, first
-- match wins: the first of lead_ids (client_reference_id, then metadata.lead_id of the session,
-- invoice, subscription, payment intent) that is a lead of the connection's channel; the lead the
-- customer was attributed to; the one lead of the channel with that email. reason (when no lead):
-- 'multiple_leads' (the email matches several) or 'no_lead'.
create function internal.stripe_lead(
  connection public.stripe_connections,
  lead_ids text[],
  customer text,
  email text,
  out lead_id uuid,
  out reason text
)
language plpgsql
stable
set search_path = ''
as $$
declare
  v_count integer;
begin
  select l.id into lead_id
  from unnest(lead_ids) with ordinality as c (id, n)
  join public.leads l on c.id ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
    and l.id = c.id::uuid and l.channels_id = connection.channels_id
  order by c.n limit 1;
  if lead_id is not null then
    return;
  end if;
  if customer is not null then
    select s.leads_id into lead_id from public.stripe_customers s
    where s.connections_id = connection.id and s.customer = stripe_lead.customer;
    if lead_id is not null then
      return;
    end if;
  end if;
  if email is not null then
    select count(*), min(l.id::text)::uuid into v_count, lead_id
    from public.leads l where l.channels_id = connection.channels_id and lower(l.email) = lower(stripe_lead.email);
    if v_count = 1 then
      return;
    end if;
    lead_id := null;
    if v_count > 1 then
      reason := 'multiple_leads';
      return;
    end if;
  end if;
  reason := 'no_lead';
end;
$$;
revoke execute on function internal.stripe_lead(public.stripe_connections, text[], text, text) from public;

-- internal.stripe_refund_to(connection, refund, purchase_id): records a Stripe refund against
-- its purchase (internal.record_refund, reason "Stripe refund"). One recorded through the API
-- with the same external_id is taken as it is; one the purchase cannot take (more than is left to
-- refund) is kept as 'refused' with the error's message.
create function internal.stripe_refund_to(connection public.stripe_connections, refund public.stripe_refunds,
  purchase_id uuid)
returns text
language plpgsql
set search_path = ''
as $$
declare
  v_result json;
begin
  begin
    v_result := internal.record_refund(connection.companies_id, jsonb_build_object('purchase_id', purchase_id,
      'amount', refund.amount, 'external_id', refund.refund_id, 'reason', 'Stripe refund'));
    update public.stripe_refunds r set status = 'recorded', refunds_id = (v_result -> 'refund' ->> 'id')::uuid,
      detail = null
    where r.connections_id = connection.id and r.refund_id = refund.refund_id;
    return 'refund';
  exception
    when sqlstate 'PT409' then
      update public.stripe_refunds r set status = 'recorded', detail = null, refunds_id = (
        select f.id from public.refunds f where f.purchases_id = stripe_refund_to.purchase_id
          and f.external_id = refund.refund_id)
      where r.connections_id = connection.id and r.refund_id = refund.refund_id;
      return 'refund';
    when sqlstate 'PT400' then
      update public.stripe_refunds r set status = 'refused', detail = sqlerrm
      where r.connections_id = connection.id and r.refund_id = refund.refund_id;
      return 'refused';
  end;
end;
$$;
revoke execute on function internal.stripe_refund_to(public.stripe_connections, public.stripe_refunds, uuid)
  from public;

-- internal.stripe_record_sale(connection, sale_id, lead_id): records a sale as a purchase of
-- lead_id (internal.record_purchase, external_id the sale's; a purchase the company recorded
-- with that external_id through the API is the sale's purchase), marks it `status`, attributes
-- its customer, and records the refunds that were waiting for it. Returns the purchase id.
create function internal.stripe_record_sale(connection public.stripe_connections, sale_id uuid, lead_id uuid,
  status text)
returns uuid
language plpgsql
set search_path = ''
as $$
declare
  v_sale public.stripe_sales;
  v_purchase_id uuid;
  v_refund public.stripe_refunds;
begin
  select s.* into v_sale from public.stripe_sales s where s.id = sale_id;
  begin
    v_purchase_id := (internal.record_purchase(connection.companies_id, jsonb_build_object('lead_id', lead_id,
      'purchase_amount', v_sale.amount, 'date', v_sale.date, 'external_id', v_sale.external_id,
      'description', 'Stripe ' || v_sale.external_id), false) -> 'purchase' ->> 'id')::uuid;
  exception when sqlstate 'PT409' then
    select p.id into v_purchase_id from public.purchases p
    where p.external_id = v_sale.external_id and p.companies_id = connection.companies_id;
  end;
  update public.stripe_sales s set status = stripe_record_sale.status, purchases_id = v_purchase_id,
    resolved_at = case when stripe_record_sale.status = 'attached' then now() end
  where s.id = sale_id;
  if v_sale.customer is not null then
    insert into public.stripe_customers (connections_id, customer, leads_id)
    values (connection.id, v_sale.customer, lead_id)
    on conflict do nothing;
  end if;
  for v_refund in
    select r.* from public.stripe_refunds r
    where r.connections_id = connection.id and r.status = 'pending' and (
      r.payment_intent = v_sale.payment_intent or r.charge = v_sale.charge
      or exists (select 1 from public.stripe_invoice_payments i where i.connections_id = connection.id
        and i.invoice = v_sale.external_id and (i.payment_intent = r.payment_intent or i.charge = r.charge)))
    order by r.created_at, r.refund_id
  loop
    perform internal.stripe_refund_to(connection, v_refund, v_purchase_id);
  end loop;
  return v_purchase_id;
end;
$$;
revoke execute on function internal.stripe_record_sale(public.stripe_connections, uuid, uuid, text) from public;

-- internal.stripe_attribute(connection, customer, lead_id): a customer attributed to a lead
-- (its first attribution stays); the customer's unmatched sales waiting for a lead (no_lead,
-- multiple_leads) are attached to it. Returns how many were.
create function internal.stripe_attribute(connection public.stripe_connections, customer text, lead_id uuid)
returns integer
language plpgsql
set search_path = ''
as $$
declare
  v_lead uuid;
  v_sale uuid;
  v_count integer := 0;
begin
  insert into public.stripe_customers (connections_id, customer, leads_id)
  values (connection.id, customer, lead_id)
  on conflict do nothing;
  select s.leads_id into v_lead from public.stripe_customers s
  where s.connections_id = connection.id and s.customer = stripe_attribute.customer;
  for v_sale in
    select s.id from public.stripe_sales s
    where s.connections_id = connection.id and s.customer = stripe_attribute.customer and s.status = 'unmatched'
      and s.reason in ('no_lead', 'multiple_leads')
    order by s.created_at, s.id
    for update
  loop
    perform internal.stripe_record_sale(connection, v_sale, v_lead, 'attached');
    v_count := v_count + 1;
  end loop;
  return v_count;
end;
$$;
revoke execute on function internal.stripe_attribute(public.stripe_connections, text, uuid) from public;

-- internal.stripe_sale(connection, event_id, sale): a sale Stripe announced. sale: external_id,
-- amount (Stripe's minor units), currency, payment_intent, charge, customer, email, date,
-- lead_ids. Kept once per external_id (a second event for the same sale records nothing again,
-- but attaches the sale when it brings the lead it was waiting for); recorded as a purchase when its lead is found and its currency is the channel's,
-- else kept as unmatched with its reason. Returns [outcome, detail].
create function internal.stripe_sale(connection public.stripe_connections, event_id text, sale jsonb)
returns text[]
language plpgsql
set search_path = ''
as $$
declare
  v_currency text := upper(sale ->> 'currency');
  v_amount numeric := internal.stripe_amount(sale -> 'amount', sale ->> 'currency');
  v_channel_currency text := (select c.currency from public.channels c where c.id = connection.channels_id);
  v_lead_id uuid;
  v_reason text;
  v_sale_id uuid;
begin
  if sale ->> 'external_id' is null or v_amount is null or v_currency is null then
    v_reason := 'unknown_shape';
  elsif v_currency <> v_channel_currency then
    v_reason := 'currency';
  else
    select l.lead_id, l.reason into v_lead_id, v_reason
    from internal.stripe_lead(connection, array(select jsonb_array_elements_text(sale -> 'lead_ids')),
      sale ->> 'customer', sale ->> 'email') l;
  end if;
  insert into public.stripe_sales (connections_id, external_id, event_id, payment_intent, charge, customer, email,
    amount, currency, date, status, reason)
  values (connection.id, sale ->> 'external_id', event_id, sale ->> 'payment_intent', sale ->> 'charge',
    sale ->> 'customer', sale ->> 'email', v_amount, v_currency, coalesce((sale ->> 'date')::timestamptz, now()),
    'unmatched', v_reason)
  on conflict (connections_id, external_id) where external_id is not null do nothing
  returning id into v_sale_id;
  if v_sale_id is null then
    -- The same sale by another event (a Checkout session and its invoice): what it adds is kept,
    -- and a lead it brings attaches the sale if it is still waiting for one.
    update public.stripe_sales s set payment_intent = coalesce(s.payment_intent, sale ->> 'payment_intent'),
      charge = coalesce(s.charge, sale ->> 'charge'), customer = coalesce(s.customer, sale ->> 'customer')
    where s.connections_id = connection.id and s.external_id = sale ->> 'external_id'
    returning s.id into v_sale_id;
    if v_lead_id is not null and exists (select 1 from public.stripe_sales s where s.id = v_sale_id
        and s.status = 'unmatched' and s.reason in ('no_lead', 'multiple_leads')) then
      perform internal.stripe_record_sale(connection, v_sale_id, v_lead_id, 'attached');
      return array['purchase', 'the waiting sale attached'];
    end if;
    return array['ignored', 'sale already received: ' || (sale ->> 'external_id')];
  end if;
  if v_reason is not null then
    return array['unmatched', v_reason];
  end if;
  perform internal.stripe_record_sale(connection, v_sale_id, v_lead_id, 'recorded');
  if sale ->> 'customer' is not null then
    perform internal.stripe_attribute(connection, sale ->> 'customer', v_lead_id);
  end if;
  return array['purchase', null];
end;
$$;
revoke execute on function internal.stripe_sale(public.stripe_connections, text, jsonb) from public;

-- internal.stripe_refund(connection, refund, charge): a Stripe refund object (charge: the charge
-- it came in, for charge.refunded). Only a succeeded refund is recorded, once per refund id, for
-- exactly its amount, against the purchase of the sale its payment intent or charge paid; a
-- refund whose sale is not recorded yet waits for it ('pending'). Returns [outcome, detail].
create function internal.stripe_refund(connection public.stripe_connections, refund jsonb, charge jsonb)
returns text[]
language plpgsql
set search_path = ''
as $$
declare
  v_refund public.stripe_refunds;
  v_purchase_id uuid;
begin
  if internal.stripe_text(refund -> 'id') is null then
    return array['ignored', 'unknown_shape'];
  end if;
  if refund ->> 'status' is distinct from 'succeeded' then
    return array['ignored', 'refund not succeeded'];
  end if;
  if internal.stripe_amount(refund -> 'amount', refund ->> 'currency') is null then
    return array['ignored', 'unknown_shape'];
  end if;
  insert into public.stripe_refunds (connections_id, refund_id, payment_intent, charge, amount, currency, status)
  values (connection.id, refund ->> 'id',
    coalesce(internal.stripe_id(refund -> 'payment_intent'), internal.stripe_id(charge -> 'payment_intent')),
    coalesce(internal.stripe_id(refund -> 'charge'), internal.stripe_id(charge)),
    internal.stripe_amount(refund -> 'amount', refund ->> 'currency'), upper(refund ->> 'currency'), 'pending')
  on conflict do nothing
  returning * into v_refund;
  if v_refund.refund_id is null then
    return array['ignored', 'refund already received: ' || (refund ->> 'id')];
  end if;
  if v_refund.currency <> (select c.currency from public.channels c where c.id = connection.channels_id) then
    update public.stripe_refunds r set status = 'refused', detail = 'currency'
    where r.connections_id = connection.id and r.refund_id = v_refund.refund_id;
    return array['refused', 'currency'];
  end if;
  select s.purchases_id into v_purchase_id from public.stripe_sales s
  where s.connections_id = connection.id and s.purchases_id is not null and (
    s.payment_intent = v_refund.payment_intent or s.charge = v_refund.charge
    or s.external_id in (select i.invoice from public.stripe_invoice_payments i
      where i.connections_id = connection.id and (i.payment_intent = v_refund.payment_intent
        or i.charge = v_refund.charge)))
  limit 1;
  if v_purchase_id is null then
    -- A sale recorded through the API with the payment intent as its external_id.
    select p.id into v_purchase_id from public.purchases p
    where p.external_id = v_refund.payment_intent and p.companies_id = connection.companies_id;
  end if;
  if v_purchase_id is null then
    return array['pending', 'waiting for its sale'];
  end if;
  return array[internal.stripe_refund_to(connection, v_refund, v_purchase_id), null];
end;
$$;
revoke execute on function internal.stripe_refund(public.stripe_connections, jsonb, jsonb) from public;

-- internal.stripe_link_payment(connection, invoice, payment_intent, charge): records which
-- payment paid an invoice and records the refunds of that payment that were waiting for the
-- invoice's purchase.
create function internal.stripe_link_payment(connection public.stripe_connections, invoice text,
  payment_intent text, charge text)
returns text[]
language plpgsql
set search_path = ''
as $$
declare
  v_purchase_id uuid;
  v_refund public.stripe_refunds;
begin
  if invoice is null or (payment_intent is null and charge is null) then
    return array['ignored', 'unknown_shape'];
  end if;
  insert into public.stripe_invoice_payments (connections_id, invoice, payment_intent, charge)
  values (connection.id, invoice, payment_intent, charge)
  on conflict do nothing;
  select s.purchases_id into v_purchase_id from public.stripe_sales s
  where s.connections_id = connection.id and s.external_id = invoice and s.purchases_id is not null;
  if v_purchase_id is not null then
    for v_refund in
      select r.* from public.stripe_refunds r
      where r.connections_id = connection.id and r.status = 'pending'
        and (r.payment_intent = stripe_link_payment.payment_intent or r.charge = stripe_link_payment.charge)
      order by r.created_at, r.refund_id
    loop
      perform internal.stripe_refund_to(connection, v_refund, v_purchase_id);
    end loop;
  end if;
  return array['linked', null];
end;
$$;
revoke execute on function internal.stripe_link_payment(public.stripe_connections, text, text, text) from public;

-- public.stripe_signing_secret(connection_id): {"signing_secret"} of an active connection (not
-- disconnected, its company still the channel's receiving company), for the route to verify a
-- request with; 404 Connection not found otherwise.
create function public.stripe_signing_secret(connection_id uuid)
returns json
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_secret text;
begin
  select c.signing_secret into v_secret from public.stripe_connections c
  join public.channels ch on ch.id = c.channels_id and ch.receiving_id = c.companies_id
  where c.id = connection_id and c.disconnected_at is null;
  if v_secret is null then
    perform internal.fail(404, 'connection_not_found', 'Connection not found');
  end if;
  return json_build_object('signing_secret', v_secret);
end;
$$;
revoke execute on function public.stripe_signing_secret(uuid) from public, anon, authenticated;
grant execute on function public.stripe_signing_secret(uuid) to service_role;

-- public.stripe_event(connection_id, event): one verified Stripe event, in one transaction: the
-- event's id is recorded first (a repeat, even a concurrent one, writes nothing and answers
-- "duplicate"), then what the event does:
-- checkout.session.completed / checkout.session.async_payment_succeeded: in payment mode and
-- paid, a sale (external_id the payment intent id, or the invoice id when the session created an
-- invoice); in subscription mode, no sale (its invoice is
-- the sale) but its customer is attributed. invoice.paid: a sale of amount_paid when above 0
-- (external_id the invoice id). refund.created / refund.updated: the refund once succeeded.
-- charge.refunded: each succeeded refund the charge lists. invoice_payment.paid: which payment
-- paid the invoice. Anything else: 'ignored'. Reads the shapes of Stripe's current API versions
-- (an invoice's subscription metadata under parent.subscription_details) and the older fields
-- (subscription_details, payment_intent, charge on the invoice) where they are present.
-- Returns {"received": true, "event_id", "outcome", "detail"}. Errors: 404 Connection not found;
-- 400 Invalid event (no id or type).
create function public.stripe_event(connection_id uuid, event jsonb)
returns json
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_connection public.stripe_connections;
  v_id text := internal.stripe_text(event -> 'id');
  v_type text := internal.stripe_text(event -> 'type');
  v_object jsonb := case when jsonb_typeof(event -> 'data' -> 'object') = 'object' then event -> 'data' -> 'object'
    else '{}'::jsonb end;
  v_result text[];
  v_lead uuid;
  v_customer text;
  v_email text;
  v_lead_ids jsonb;
  v_payments jsonb;
begin
  select c.* into v_connection from public.stripe_connections c
  join public.channels ch on ch.id = c.channels_id and ch.receiving_id = c.companies_id
  where c.id = connection_id and c.disconnected_at is null;
  if v_connection.id is null then
    perform internal.fail(404, 'connection_not_found', 'Connection not found');
  end if;
  if v_id is null or v_type is null then
    perform internal.fail(400, 'invalid_event', 'Invalid event');
  end if;
  insert into public.stripe_events (connections_id, event_id, type, outcome)
  values (v_connection.id, v_id, v_type, 'ignored')
  on conflict do nothing;
  if not found then
    return json_build_object('received', true, 'event_id', v_id, 'outcome', 'duplicate', 'detail', null);
  end if;

  v_customer := internal.stripe_id(v_object -> 'customer');
  if v_type in ('checkout.session.completed', 'checkout.session.async_payment_succeeded') then
    v_email := coalesce(internal.stripe_text(v_object -> 'customer_details' -> 'email'),
      internal.stripe_text(v_object -> 'customer_email'));
    v_lead_ids := jsonb_strip_nulls(jsonb_build_array(internal.stripe_text(v_object -> 'client_reference_id'),
      internal.stripe_text(v_object -> 'metadata' -> 'lead_id'),
      internal.stripe_text(v_object -> 'payment_intent' -> 'metadata' -> 'lead_id'),
      internal.stripe_text(v_object -> 'subscription' -> 'metadata' -> 'lead_id')));
    if v_object ->> 'mode' = 'payment' and v_object ->> 'payment_status' = 'paid' then
      -- A session that created an invoice (invoice_creation) is recorded under the invoice's id, so
      -- that its invoice.paid is the same sale.
      v_result := internal.stripe_sale(v_connection, v_id, jsonb_build_object(
        'external_id', coalesce(internal.stripe_id(v_object -> 'invoice'), internal.stripe_id(v_object -> 'payment_intent')),
        'amount', v_object -> 'amount_total',
        'currency', internal.stripe_text(v_object -> 'currency'),
        'payment_intent', internal.stripe_id(v_object -> 'payment_intent'), 'customer', v_customer,
        'email', v_email, 'lead_ids', v_lead_ids, 'date', case when jsonb_typeof(v_object -> 'created') = 'number'
          and (v_object ->> 'created') ~ '^[0-9]{1,11}$' then to_timestamp((v_object ->> 'created')::bigint) end));
    elsif v_object ->> 'mode' = 'subscription' then
      select l.lead_id into v_lead
      from internal.stripe_lead(v_connection, array(select jsonb_array_elements_text(v_lead_ids)), null, v_email) l;
      if v_lead is null or v_customer is null then
        v_result := array['ignored', 'subscription checkout without a lead'];
      else
        v_result := array['attributed', internal.stripe_attribute(v_connection, v_customer, v_lead)::text
          || ' waiting sale(s) attached'];
      end if;
    else
      v_result := array['ignored', 'not a paid payment'];
    end if;
  elsif v_type = 'invoice.paid' then
    if internal.stripe_amount(v_object -> 'amount_paid', v_object ->> 'currency') = 0 then
      v_result := array['ignored', 'zero amount'];
    else
      v_payments := case when jsonb_typeof(v_object -> 'payments' -> 'data') = 'array'
        then v_object -> 'payments' -> 'data' else '[]'::jsonb end;
      insert into public.stripe_invoice_payments (connections_id, invoice, payment_intent, charge)
      select v_connection.id, internal.stripe_id(v_object -> 'id'), p.payment_intent, p.charge
      from (
        select internal.stripe_id(v_object -> 'payment_intent') as payment_intent,
          internal.stripe_id(v_object -> 'charge') as charge
        union all
        select internal.stripe_id(e -> 'payment' -> 'payment_intent'), internal.stripe_id(e -> 'payment' -> 'charge')
        from jsonb_array_elements(v_payments) e
      ) p
      where internal.stripe_id(v_object -> 'id') is not null and (p.payment_intent is not null or p.charge is not null)
      on conflict do nothing;
      v_result := internal.stripe_sale(v_connection, v_id, jsonb_build_object(
        'external_id', internal.stripe_id(v_object -> 'id'), 'amount', v_object -> 'amount_paid',
        'currency', internal.stripe_text(v_object -> 'currency'),
        'payment_intent', internal.stripe_id(v_object -> 'payment_intent'),
        'charge', internal.stripe_id(v_object -> 'charge'), 'customer', v_customer,
        'email', internal.stripe_text(v_object -> 'customer_email'),
        'lead_ids', jsonb_strip_nulls(jsonb_build_array(internal.stripe_text(v_object -> 'metadata' -> 'lead_id'),
          internal.stripe_text(v_object -> 'parent' -> 'subscription_details' -> 'metadata' -> 'lead_id'),
          internal.stripe_text(v_object -> 'subscription_details' -> 'metadata' -> 'lead_id'),
          internal.stripe_text(v_object -> 'subscription' -> 'metadata' -> 'lead_id'))),
        'date', case when jsonb_typeof(v_object -> 'status_transitions' -> 'paid_at') = 'number'
          and (v_object -> 'status_transitions' ->> 'paid_at') ~ '^[0-9]{1,11}$'
          then to_timestamp((v_object -> 'status_transitions' ->> 'paid_at')::bigint) end));
    end if;
  elsif v_type in ('refund.created', 'refund.updated') then
    v_result := internal.stripe_refund(v_connection, v_object, null);
  elsif v_type = 'charge.refunded' then
    if jsonb_typeof(v_object -> 'refunds' -> 'data') = 'array'
      and jsonb_array_length(v_object -> 'refunds' -> 'data') > 0 then
      select array[case when bool_or(r.result[1] = 'refund') then 'refund'
          when bool_or(r.result[1] = 'pending') then 'pending'
          when bool_or(r.result[1] = 'refused') then 'refused' else 'ignored' end,
        string_agg(r.result[2], '; ')] into v_result
      from jsonb_array_elements(v_object -> 'refunds' -> 'data') e
      cross join lateral (select internal.stripe_refund(v_connection, e, v_object) as result) r;
    else
      v_result := array['ignored', 'the charge lists no refunds: refund.created records them'];
    end if;
  elsif v_type = 'invoice_payment.paid' then
    v_result := internal.stripe_link_payment(v_connection, internal.stripe_id(v_object -> 'invoice'),
      internal.stripe_id(v_object -> 'payment' -> 'payment_intent'),
      internal.stripe_id(v_object -> 'payment' -> 'charge'));
  else
    v_result := array['ignored', null];
  end if;

  update public.stripe_events e set outcome = v_result[1], detail = v_result[2]
  where e.connections_id = v_connection.id and e.event_id = v_id;
  return json_build_object('received', true, 'event_id', v_id, 'outcome', v_result[1], 'detail', v_result[2]);
end;
$$;
revoke execute on function public.stripe_event(uuid, jsonb) from public, anon, authenticated;
grant execute on function public.stripe_event(uuid, jsonb) to service_role;

-- internal.stripe_connection_json(connection): the connection as the API and the admin CLI show
-- it: never its signing secret.
create function internal.stripe_connection_json(c public.stripe_connections)
returns json
language sql
stable
set search_path = ''
as $$
  select pg_catalog.json_build_object('id', c.id, 'company_id', c.companies_id, 'channel_id', c.channels_id,
    'created_at', internal.iso_time(c.created_at), 'endpoint', '/functions/v1/openapi-operations/stripe/' || c.id,
    'disconnected_at', internal.iso_time(c.disconnected_at))
$$;
revoke execute on function internal.stripe_connection_json(public.stripe_connections) from public;

-- internal.connect_stripe(company, channel_id, signing_secret): a connection of the channel's
-- receiving company (403 Only the receiving company can do this on this channel).
-- Returns {"connection": {...}}.
create function internal.connect_stripe(company uuid, channel_id uuid, signing_secret text)
returns json
language plpgsql
set search_path = ''
as $$
declare
  v_channel public.channels := internal.accessible_channel(company, channel_id);
  v_connection public.stripe_connections;
begin
  perform internal.require_receiving(v_channel, company);
  insert into public.stripe_connections (companies_id, channels_id, signing_secret)
  values (company, v_channel.id, signing_secret)
  returning * into v_connection;
  return json_build_object('connection', internal.stripe_connection_json(v_connection));
end;
$$;
revoke execute on function internal.connect_stripe(uuid, uuid, text) from public;

-- public.connect_stripe(key_hash, args): args channel_id, signing_secret. See
-- internal.connect_stripe. Errors: 403 Channel not accessible; 403 Only the receiving company can
-- do this on this channel.
create function public.connect_stripe(key_hash text, args jsonb)
returns json
language plpgsql
security definer
set search_path = ''
as $$
begin
  return internal.connect_stripe(internal.company_for_key(key_hash), (args ->> 'channel_id')::uuid,
    args ->> 'signing_secret');
end;
$$;
revoke execute on function public.connect_stripe(text, jsonb) from public, anon, authenticated;
grant execute on function public.connect_stripe(text, jsonb) to service_role;

-- internal.unmatched_sale_json(sale): the UnmatchedSale object.
create function internal.unmatched_sale_json(s public.stripe_sales, channel_id uuid)
returns json
language sql
stable
set search_path = ''
as $$
  select pg_catalog.json_build_object('id', s.id, 'created_at', internal.iso_time(s.created_at),
    'channel_id', channel_id, 'status', s.status, 'reason', s.reason, 'external_id', s.external_id,
    'amount', s.amount, 'currency', s.currency, 'customer', s.customer, 'email', s.email,
    'stripe_event_id', s.event_id, 'purchase_id', s.purchases_id, 'dismiss_reason', s.dismiss_reason)
$$;
revoke execute on function internal.unmatched_sale_json(public.stripe_sales, uuid) from public;

-- public.get_unmatched_sales(key_hash, args): {"unmatched_sales": [...], "next_cursor"}, the
-- sales from Stripe waiting for a lead on the channels the company receives for, newest first.
-- args: limit 1-100 (default 100), cursor. Errors: 400 cursor is invalid.
create function public.get_unmatched_sales(key_hash text, args jsonb)
returns json
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_company uuid := internal.company_for_key(key_hash);
  v_limit integer := coalesce((args ->> 'limit')::integer, 100);
  v_after_created_at timestamptz;
  v_after_id uuid;
  v_items json[];
  v_times timestamptz[];
  v_ids uuid[];
begin
  select d.created_at, d.id into v_after_created_at, v_after_id from internal.decode_cursor(args ->> 'cursor') d;
  select array_agg(s.item order by s.created_at desc, s.id desc),
    array_agg(s.created_at order by s.created_at desc, s.id desc), array_agg(s.id order by s.created_at desc, s.id desc)
  into v_items, v_times, v_ids
  from (
    select internal.unmatched_sale_json(s, c.channels_id) as item, s.created_at, s.id
    from public.stripe_sales s
    join public.stripe_connections c on c.id = s.connections_id
    join public.channels ch on ch.id = c.channels_id and ch.receiving_id = v_company
    where s.status = 'unmatched' and (s.created_at, s.id) < (v_after_created_at, v_after_id)
    order by s.created_at desc, s.id desc limit v_limit + 1
  ) s;
  return internal.page('unmatched_sales', v_items, v_times, v_ids, v_limit);
end;
$$;
revoke execute on function public.get_unmatched_sales(text, jsonb) from public, anon, authenticated;
grant execute on function public.get_unmatched_sales(text, jsonb) to service_role;

-- internal.unmatched_sale(company, id): a sale that was unmatched (any status now) of a channel the
-- company receives for, locked; 404 Unmatched sale not found otherwise.
create function internal.unmatched_sale(company uuid, sale_id uuid)
returns public.stripe_sales
language plpgsql
set search_path = ''
as $$
declare
  v_sale public.stripe_sales;
begin
  select s.* into v_sale from public.stripe_sales s
  join public.stripe_connections c on c.id = s.connections_id
  join public.channels ch on ch.id = c.channels_id and ch.receiving_id = company
  where s.id = sale_id and s.reason is not null
  for update of s;
  if v_sale.id is null then
    perform internal.fail(404, 'unmatched_sale_not_found', 'Unmatched sale not found');
  end if;
  return v_sale;
end;
$$;
revoke execute on function internal.unmatched_sale(uuid, uuid) from public;

-- public.attach_sale(key_hash, args): args unmatched_sale_id, lead_id: records the unmatched
-- sale as a purchase of the lead (with the refunds waiting for it). Idempotent: a sale already
-- attached answers the same. Errors: 404 Unmatched sale not found; 403 Lead not accessible (not a
-- lead of the sale's channel); 409 Sale was dismissed; 409 Sale is not in the channel's currency;
-- 409 Sale has no amount (a shape the code does not know). Returns {"unmatched_sale": {...}}.
create function public.attach_sale(key_hash text, args jsonb)
returns json
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_company uuid := internal.company_for_key(key_hash);
  v_sale public.stripe_sales;
  v_connection public.stripe_connections;
  v_lead_id uuid := (args ->> 'lead_id')::uuid;
begin
  v_sale := internal.unmatched_sale(v_company, (args ->> 'unmatched_sale_id')::uuid);
  select c.* into v_connection from public.stripe_connections c where c.id = v_sale.connections_id;
  if not exists (select 1 from public.leads l where l.id = v_lead_id and l.channels_id = v_connection.channels_id) then
    perform internal.fail(403, 'lead_not_accessible', 'Lead not accessible');
  end if;
  if v_sale.status = 'dismissed' then
    perform internal.fail(409, 'sale_dismissed', 'Sale was dismissed');
  end if;
  if v_sale.status = 'unmatched' then
    if v_sale.reason = 'currency' then
      perform internal.fail(409, 'sale_currency', 'Sale is not in the channel''s currency');
    end if;
    if v_sale.amount is null or v_sale.external_id is null then
      perform internal.fail(409, 'sale_unknown_shape', 'Sale has no amount');
    end if;
    perform internal.stripe_record_sale(v_connection, v_sale.id, v_lead_id, 'attached');
  end if;
  return json_build_object('unmatched_sale', (select internal.unmatched_sale_json(s, v_connection.channels_id)
    from public.stripe_sales s where s.id = v_sale.id));
end;
$$;
revoke execute on function public.attach_sale(text, jsonb) from public, anon, authenticated;
grant execute on function public.attach_sale(text, jsonb) to service_role;

-- public.dismiss_sale(key_hash, args): args unmatched_sale_id, reason: takes an unmatched sale
-- off the list without recording it. Idempotent. Errors: 404 Unmatched sale not found; 409 Sale
-- was attached. Returns {"unmatched_sale": {...}}.
create function public.dismiss_sale(key_hash text, args jsonb)
returns json
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_company uuid := internal.company_for_key(key_hash);
  v_sale public.stripe_sales;
  v_connection public.stripe_connections;
begin
  v_sale := internal.unmatched_sale(v_company, (args ->> 'unmatched_sale_id')::uuid);
  select c.* into v_connection from public.stripe_connections c where c.id = v_sale.connections_id;
  if v_sale.status = 'attached' then
    perform internal.fail(409, 'sale_attached', 'Sale was attached');
  end if;
  update public.stripe_sales s set status = 'dismissed', dismiss_reason = args ->> 'reason', resolved_at = now()
  where s.id = v_sale.id and s.status = 'unmatched';
  return json_build_object('unmatched_sale', (select internal.unmatched_sale_json(s, v_connection.channels_id)
    from public.stripe_sales s where s.id = v_sale.id));
end;
$$;
revoke execute on function public.dismiss_sale(text, jsonb) from public, anon, authenticated;
grant execute on function public.dismiss_sale(text, jsonb) to service_role;
