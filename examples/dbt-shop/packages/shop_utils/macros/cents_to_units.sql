{% macro cents_to_units(column_name) -%}
    round(cast({{ column_name }} as numeric) / 100, 2)
{%- endmacro %}
