-- Question: When was each day's traffic peak, in the shop's local time?
-- Columns: date, peak_hour_local, sessions, events, orders, max_events_per_second
-- Tables: gold.traffic_hourly
-- Per UTC date, the hour with the most consenting human sessions (ties: the earlier hour), shown
-- as the shop's wall-clock hour (gold.browsing.shop_timezone), with its events and orders;
-- max_events_per_second is the day's highest one-second load, bots included.
WITH ranked AS (
    SELECT
        date,
        hour_local,
        sessions,
        events,
        orders,
        MAX(peak_events_per_second) OVER (PARTITION BY date) AS max_events_per_second,
        ROW_NUMBER() OVER (PARTITION BY date ORDER BY sessions DESC, hour_utc) AS n
    FROM gold.traffic_hourly
)
SELECT date, hour_local AS peak_hour_local, sessions, events, orders, max_events_per_second
FROM ranked
WHERE n = 1
ORDER BY date;
