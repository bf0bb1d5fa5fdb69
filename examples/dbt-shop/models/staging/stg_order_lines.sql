select
    order_id,
    line_no,
    product_code,
    quantity,
    {{ shop_utils.cents_to_units('unit_price_cents') }} as unit_price
from {{ ref('raw_order_lines') }}
