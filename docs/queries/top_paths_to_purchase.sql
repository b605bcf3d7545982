-- Question: Which navigation paths lead to a purchase most often?
-- Columns: path, steps, sessions, share_of_purchases
-- Tables: gold.navigation_paths
-- A path is the last page types (repeats collapsed) before the order confirmation page. Summed over
-- the 7 days ending on the latest published date; each day keeps only its top paths
-- (gold.browsing.top_paths), so share_of_purchases is a share of the kept paths' sessions.
WITH bounds AS (
    SELECT MAX(date) AS last_day FROM gold.navigation_paths
),
paths AS (
    SELECT p.path, p.steps, SUM(p.sessions) AS sessions
    FROM gold.navigation_paths AS p
    CROSS JOIN bounds AS b
    WHERE p.outcome = 'purchase' AND p.date > b.last_day - 7
    GROUP BY p.path, p.steps
)
SELECT
    path,
    steps,
    sessions,
    1.0 * sessions / SUM(sessions) OVER () AS share_of_purchases
FROM paths
ORDER BY sessions DESC, path
LIMIT 10;
