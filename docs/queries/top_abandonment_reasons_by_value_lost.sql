-- Question: Which abandonment reasons lose the most cart value over the last 7 days?
-- Columns: reason, abandoned_carts, value_lost, share_of_value_lost, recovered_carts, value_recovered
-- Tables: gold.abandonment_reasons_daily
-- By the carts' creation date, the 7 days ending on the latest published date. value_lost is the
-- value of carts abandoned and not (yet) recovered, by their primary reason; recovered carts were
-- ordered after the abandonment window.
WITH bounds AS (
    SELECT MAX(date) AS last_day FROM gold.abandonment_reasons_daily
),
by_reason AS (
    SELECT
        r.reason,
        SUM(r.abandoned_carts) AS abandoned_carts,
        SUM(r.value_lost) AS value_lost,
        SUM(r.recovered_carts) AS recovered_carts,
        SUM(r.value_recovered) AS value_recovered
    FROM gold.abandonment_reasons_daily AS r
    CROSS JOIN bounds AS b
    WHERE r.date > b.last_day - 7
    GROUP BY r.reason
)
SELECT
    reason,
    abandoned_carts,
    value_lost,
    1.0 * value_lost / NULLIF(SUM(value_lost) OVER (), 0) AS share_of_value_lost,
    recovered_carts,
    value_recovered
FROM by_reason
ORDER BY value_lost DESC, reason;
