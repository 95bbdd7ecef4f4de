-- Security baseline, applied before any object exists.
-- Functions are never executable by PUBLIC, anon or authenticated unless granted;
-- every API function in later migrations grants EXECUTE to service_role only.

create schema if not exists extensions;
create extension if not exists pgcrypto with schema extensions;

-- Global, because a per-schema entry can only add to the global default (which grants
-- EXECUTE to PUBLIC); applies to functions created by the role running the migrations.
alter default privileges revoke execute on functions from public;
alter default privileges in schema public revoke execute on functions from anon, authenticated;
alter default privileges in schema public revoke all on tables from anon, authenticated;
alter default privileges in schema public revoke all on sequences from anon, authenticated;

-- Helpers shared by the API functions. This schema is not exposed through PostgREST and
-- only the owner may use it: the API functions are security definer and call in here.
create schema if not exists internal;
revoke all on schema internal from public;

-- internal.fail(status, code, message): raises the API error that PostgREST and the direct
-- adapter both turn into HTTP <status> with {"error": message, "code": code}.
-- SQLSTATE 'PT<status>' is PostgREST's convention for choosing the response status.
create function internal.fail(http_status integer, error_code text, error_message text)
returns void
language plpgsql
set search_path = ''
as $$
begin
  raise exception using errcode = 'PT' || http_status::text, message = error_message, hint = error_code;
end;
$$;
revoke execute on function internal.fail(integer, text, text) from public;

-- internal.iso_time(t): the API's timestamp format, UTC with milliseconds
-- ("2025-04-01T00:00:00.000Z").
-- Helpers are plpgsql rather than sql: a sql function with a SET clause is never inlined
-- and is planned again on every call, while plpgsql caches its plans per session.
create function internal.iso_time(t timestamptz)
returns text
language plpgsql
immutable
set search_path = ''
as $$
begin
  return to_char(t at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"');
end;
$$;
revoke execute on function internal.iso_time(timestamptz) from public;
