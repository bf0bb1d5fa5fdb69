{{ config(enabled=false) }}
select * from {{ ref('stg_gift_cards') }}
