-- Two parents: every customer's lifetime value equals the sum of their kept orders.
select c.customer_id
from {{ ref('dim_customers') }} as c
left join (
    select customer_id, sum(order_amount) as kept
    from {{ ref('fct_orders') }}
    where order_state <> 'returned'
    group by customer_id
) as o using (customer_id)
where c.lifetime_value <> coalesce(o.kept, 0)
