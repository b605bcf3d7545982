-- Question: How does each channel convert this week against last week?
-- Columns: channel, sessions_this_week, conversion_this_week, sessions_last_week, conversion_last_week, conversion_change
-- Tables: gold.session_facts
-- This week is the 7 days ending on the latest published session_date, last week the 7 days
-- before. Conversion = sessions with an order / sessions; conversion_change is this week's minus
-- last week's (null when a week has no session of the channel).
WITH bounds AS (
    SELECT MAX(session_date) AS last_day FROM gold.session_facts
),
sessions AS (
    SELECT
        s.channel,
        s.session_date > b.last_day - 7 AS this_week,
        s.purchased
    FROM gold.session_facts AS s
    CROSS JOIN bounds AS b
    WHERE s.session_date > b.last_day - 14
),
weekly AS (
    SELECT
        channel,
        COUNT(*) FILTER (WHERE this_week) AS sessions_this_week,
        COUNT(*) FILTER (WHERE this_week AND purchased) AS orders_this_week,
        COUNT(*) FILTER (WHERE NOT this_week) AS sessions_last_week,
        COUNT(*) FILTER (WHERE NOT this_week AND purchased) AS orders_last_week
    FROM sessions
    GROUP BY channel
)
SELECT
    channel,
    sessions_this_week,
    1.0 * orders_this_week / NULLIF(sessions_this_week, 0) AS conversion_this_week,
    sessions_last_week,
    1.0 * orders_last_week / NULLIF(sessions_last_week, 0) AS conversion_last_week,
    1.0 * orders_this_week / NULLIF(sessions_this_week, 0)
        - 1.0 * orders_last_week / NULLIF(sessions_last_week, 0) AS conversion_change
FROM weekly
ORDER BY sessions_this_week DESC, channel;
