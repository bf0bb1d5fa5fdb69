-- A small calendar of the shop's first trading year.
select cast(d as date) as calendar_day, extract(isodow from d) as iso_weekday
from generate_series(date '2024-01-01', date '2024-12-31', interval '1 day') as d
