{% snapshot customers_snapshot %}
{{ config(target_schema='snapshots', unique_key='customer_id', strategy='check', check_cols=['country_code']) }}
select customer_id, country_code from {{ ref('stg_customers') }}
{% endsnapshot %}
