{{ config(tags=['finance']) }}
select
    c.customer_id,
    c.given_name,
    c.country_code,
    count(f.order_id) as orders_placed,
    coalesce(sum(f.order_amount) filter (where f.order_state <> 'returned'), 0) as lifetime_value
from {{ ref('stg_customers') }} as c
left join {{ ref('fct_orders') }} as f using (customer_id)
group by c.customer_id, c.given_name, c.country_code
