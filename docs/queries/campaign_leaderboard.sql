-- Question: Which campaigns converted best on the latest day, against shoppers from no campaign in the same hours?
-- Columns: local_date, campaign, sessions, orders, revenue, conversion, lift, lift_low, lift_high
-- Tables: gold.campaign_performance_hourly
-- The newest local day in the warehouse (during a sale: today, up to the last published hour), per
-- campaign: its sessions, orders and revenue, its conversion, and its lift against non-campaign
-- sessions of the same hours with the 95% interval, as of its latest hour (the day_* columns).
-- Ranked by the interval's lower end: first the campaigns that surely work.
WITH latest AS (
    SELECT MAX(local_date) AS local_date FROM gold.campaign_performance_hourly
),
hours AS (
    SELECT c.*, ROW_NUMBER() OVER (PARTITION BY c.campaign ORDER BY c.hour_local DESC) AS newest
    FROM gold.campaign_performance_hourly AS c
    JOIN latest USING (local_date)
)
SELECT
    local_date,
    campaign,
    SUM(sessions) AS sessions,
    SUM(orders) AS orders,
    SUM(revenue) AS revenue,
    1.0 * SUM(converted_sessions) / SUM(sessions) AS conversion,
    MAX(day_conversion_lift) FILTER (WHERE newest = 1) AS lift,
    MAX(day_conversion_lift_low) FILTER (WHERE newest = 1) AS lift_low,
    MAX(day_conversion_lift_high) FILTER (WHERE newest = 1) AS lift_high
FROM hours
GROUP BY local_date, campaign
ORDER BY lift_low DESC NULLS LAST, sessions DESC, campaign
LIMIT 20;
