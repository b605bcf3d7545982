-- Question: Where do sessions drop out of the purchase funnel, by device type?
-- Columns: device_type, step_index, step, sessions, dropped, step_conversion, overall_conversion
-- Tables: gold.funnel_daily
-- The closed funnel (a session counts at a step when it reached every earlier step first) summed
-- over the 7 days ending on the latest published date and over channels, regions and categories.
-- dropped = sessions of the previous step that did not reach this one; step_conversion = sessions
-- / sessions of the previous step; overall_conversion = sessions / sessions of the first step.
WITH bounds AS (
    SELECT MAX(date) AS last_day FROM gold.funnel_daily
),
steps AS (
    SELECT f.device_type, f.step_index, f.step, SUM(f.sessions) AS sessions
    FROM gold.funnel_daily AS f
    CROSS JOIN bounds AS b
    WHERE f.date > b.last_day - 7
    GROUP BY f.device_type, f.step_index, f.step
)
SELECT
    device_type,
    step_index,
    step,
    sessions,
    COALESCE(LAG(sessions) OVER (PARTITION BY device_type ORDER BY step_index) - sessions, 0) AS dropped,
    1.0 * sessions / NULLIF(LAG(sessions) OVER (PARTITION BY device_type ORDER BY step_index), 0)
        AS step_conversion,
    1.0 * sessions / NULLIF(FIRST_VALUE(sessions) OVER (PARTITION BY device_type ORDER BY step_index), 0)
        AS overall_conversion
FROM steps
ORDER BY device_type, step_index;
