-- Question: How much revenue does a session bring, by channel, over the last 7 days?
-- Columns: channel, sessions, orders, revenue, revenue_per_session, average_order_value
-- Tables: gold.session_facts
-- Revenue is the total of the sessions' orders as placed (IDR), before later cancellations or
-- refunds; the 7 days ending on the latest published session_date.
WITH bounds AS (
    SELECT MAX(session_date) AS last_day FROM gold.session_facts
)
SELECT
    s.channel,
    COUNT(*) AS sessions,
    SUM(s.orders) AS orders,
    SUM(s.revenue) AS revenue,
    1.0 * SUM(s.revenue) / COUNT(*) AS revenue_per_session,
    1.0 * SUM(s.revenue) / NULLIF(SUM(s.orders), 0) AS average_order_value
FROM gold.session_facts AS s
CROSS JOIN bounds AS b
WHERE s.session_date > b.last_day - 7
GROUP BY s.channel
ORDER BY revenue_per_session DESC, s.channel;
