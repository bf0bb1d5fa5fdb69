select
    product_code,
    split_part(product_code, '-', 1) as product_family,
    max(unit_price) as list_price
from {{ ref('stg_order_lines') }}
group by product_code
