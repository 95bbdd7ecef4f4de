-- create_purchase_custom: create_purchase for a free-text product.

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
