select distinct product_code
from {{ ref('stg_order_lines') }}
