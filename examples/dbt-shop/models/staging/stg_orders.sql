select
    order_id,
    customer_id,
    cast(ordered_at as timestamp) as ordered_at,
    lower(state) as order_state
from {{ ref('raw_orders') }}
