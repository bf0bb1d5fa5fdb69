-- One row per customer, names split for mailings.
select
    customer_id,
    full_name,
    split_part(full_name, ' ', 1) as given_name,
    upper(country_code) as country_code,
    cast(signed_up_on as date) as signed_up_on
from {{ ref('raw_customers') }}
