-- Companies and their API keys: the tables companies, api_keys and products (a company's
-- catalog), and authentication (internal.company_for_key, public.authenticate).
--
-- Every table of the API has row level security enabled and no policy: anon and authenticated
-- see nothing, and their privileges are revoked too, so a forgotten policy stays harmless; the
-- API reaches the data only through security definer functions. Table names are part of the API
-- contract.

create table public.companies (
  id uuid primary key default gen_random_uuid(),
  name text not null,
  created_at timestamptz not null default now()
);
alter table public.companies enable row level security;
revoke all on public.companies from anon, authenticated;

-- Plaintext keys are never stored: key_hash is the hex SHA-256 of the whole key and prefix
-- its first characters, so an operator can tell keys apart.
create table public.api_keys (
  id uuid primary key default gen_random_uuid(),
  companies_id uuid not null references public.companies (id) on delete cascade,
  name text,
  prefix text not null,
  key_hash text not null unique check (key_hash ~ '^[0-9a-f]{64}$'),
  created_at timestamptz not null default now(),
  revoked_at timestamptz
);
create index api_keys_companies_id_idx on public.api_keys (companies_id);
alter table public.api_keys enable row level security;
revoke all on public.api_keys from anon, authenticated;

create table public.products (
  id uuid primary key default gen_random_uuid(),
  companies_id uuid not null references public.companies (id),
  name text not null,
  description text,
  created_at timestamptz not null default now()
);
create index products_companies_id_idx on public.products (companies_id);
alter table public.products enable row level security;
revoke all on public.products from anon, authenticated;

-- internal.company_for_key(key_hash): the company owning an active API key.
-- Raises 401 "Invalid API key" for an unknown or revoked key.
create function internal.company_for_key(key_hash text)
returns uuid
language plpgsql
stable
set search_path = ''
as $$
declare
  v_company uuid;
begin
  select k.companies_id into v_company
  from public.api_keys k
  where k.key_hash = company_for_key.key_hash and k.revoked_at is null;
  if v_company is null then
    perform internal.fail(401, 'invalid_api_key', 'Invalid API key');
  end if;
  return v_company;
end;
$$;
revoke execute on function internal.company_for_key(text) from public;

-- public.authenticate(key_hash): true for an active key, else 401 "Invalid API key".
-- Used only on error paths, so that a bad key wins over a bad body.
create function public.authenticate(key_hash text)
returns boolean
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  perform internal.company_for_key(key_hash);
  return true;
end;
$$;
revoke execute on function public.authenticate(text) from public, anon, authenticated;
grant execute on function public.authenticate(text) to service_role;
