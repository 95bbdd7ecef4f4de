-- Idempotency: the table idempotency_keys, public.idempotent (which runs a write action at
-- most once per company and Idempotency-Key), the retention window and its purge (pg_cron on
-- Supabase, the local server elsewhere). What a client sees: docs/guide.md.

-- One row per (company, Idempotency-Key): claimed, executed and answered in the same
-- transaction as the action, so only successful requests leave a row. `response` is json,
-- not jsonb, so a replay returns the very same bytes. resolved_args: the first request's
-- arguments with its defaults applied, for an action that has such defaults (create_payout's
-- currency, refund_purchase's amount, the purchases' date); null for every other action, whose
-- fingerprint alone decides.
create table public.idempotency_keys (
  companies_id uuid not null references public.companies (id) on delete cascade,
  key text not null,
  action text not null,
  fingerprint text not null,
  status integer,
  response json,
  created_at timestamptz not null default now(),
  resolved_args jsonb,
  primary key (companies_id, key)
);
create index idempotency_keys_created_at_idx on public.idempotency_keys (created_at);
alter table public.idempotency_keys enable row level security;
revoke all on public.idempotency_keys from anon, authenticated;

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

-- internal.idempotency_resolved_args(action, args, response): args with each default this
-- database fills in taken from `response`, the first request's answer; null for an action without
-- such defaults. Amounts compare as numbers (jsonb equality), other values as sent (validated
-- and canonical: the server writes dates and currencies in one form).
create function internal.idempotency_resolved_args(action text, args jsonb, response json)
returns jsonb
language sql
immutable
set search_path = ''
as $$
  select case action
    when 'create_payout' then
      args || jsonb_build_object('currency', coalesce(args ->> 'currency', response -> 'payout' ->> 'currency'))
    when 'refund_purchase' then
      args || jsonb_build_object('amount', coalesce(args ->> 'amount', response -> 'refund' ->> 'amount')::numeric)
    when 'create_purchase' then
      args || jsonb_build_object('date', coalesce(args ->> 'date', response -> 'purchase' ->> 'date'))
    when 'create_purchase_custom' then
      args || jsonb_build_object('date', coalesce(args ->> 'date', response -> 'purchase' ->> 'date'))
  end
$$;
revoke execute on function internal.idempotency_resolved_args(text, jsonb, json) from public;

-- public.idempotent(key_hash, action, args, idempotency_key, fingerprint): runs a write
-- action at most once per (company, idempotency_key). The first request claims the key,
-- runs public.<action>(key_hash, args) and stores its response, all in this transaction: if
-- the action fails, the claim disappears with it and a retry runs normally. A concurrent
-- duplicate waits on the claim and then replays. A retry of the same request (same
-- fingerprint: a hash of the action and its canonical, validated body) returns the stored
-- response; another request with the same key gets 422. The first request's resolved arguments
-- are stored beside its fingerprint: a retry whose fingerprint differs is still the same request
-- when its arguments, resolved against the stored answer, equal them.
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
    'update_lead', 'update_status', 'update_status_id', 'refund_purchase', 'approve_rewards', 'reject_rewards',
    'create_payout', 'mark_payout_paid', 'cancel_payout', 'import_purchases', 'connect_stripe', 'attach_sale',
    'dismiss_sale']) then
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
    if v_claim.fingerprint <> fingerprint and (v_claim.action <> action or v_claim.resolved_args is null
      or v_claim.resolved_args is distinct from internal.idempotency_resolved_args(action, args, v_claim.response)) then
      perform internal.fail(422, 'idempotency_key_reused', 'Idempotency-Key reused with a different request');
    end if;
    return json_build_object('replayed', true, 'status', v_claim.status, 'body', v_claim.response);
  end if;

  execute format('select public.%I($1, $2)', action) into v_body using key_hash, args;
  update public.idempotency_keys k set status = 200, response = v_body,
    resolved_args = internal.idempotency_resolved_args(idempotent.action, args, v_body)
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
