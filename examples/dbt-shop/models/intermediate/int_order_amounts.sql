-- Inlined into its dependents as a CTE (materialized: ephemeral in dbt_project.yml).
select
    order_id,
    count(*) as line_count,
    sum(quantity * unit_price) as order_amount
from {{ ref('stg_order_lines') }}
group by order_id
