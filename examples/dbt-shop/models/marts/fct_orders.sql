select
    o.order_id,
    o.customer_id,
    o.ordered_at,
    o.order_state,
    coalesce(a.line_count, 0) as line_count,
    coalesce(a.order_amount, 0) as order_amount
from {{ ref('stg_orders') }} as o
left join {{ ref('int_order_amounts') }} as a using (order_id)
