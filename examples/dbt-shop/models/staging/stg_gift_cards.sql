{{ config(tags=['legacy']) }}
select card_code, balance_cents, issued_on
from {{ source('legacy', 'gift_cards') }}
