select c.country_code, sum(f.order_amount) as revenue
from {{ ref('fct_orders') }} as f
join {{ ref('dim_customers') }} as c using (customer_id)
group by 1
