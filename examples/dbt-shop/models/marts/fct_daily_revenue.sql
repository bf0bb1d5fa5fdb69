{{ config(materialized='incremental', unique_key='revenue_day', tags=['finance', 'daily']) }}
select
    cast(ordered_at as date) as revenue_day,
    sum(order_amount) as revenue
from {{ ref('fct_orders') }}
where order_state <> 'returned'
{% if is_incremental() %}
  and cast(ordered_at as date) >= (select max(revenue_day) from {{ this }})
{% endif %}
group by 1
