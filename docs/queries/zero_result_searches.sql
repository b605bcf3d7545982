-- Question: Which searches find nothing, most often, over the last 7 days?
-- Columns: query_normalised, zero_result_searches, searches, zero_result_rate, days_seen
-- Tables: gold.search_quality_daily
-- Queries are normalised (case, spacing, reduplication, common misspellings), so variants of one
-- intent add up. A day's zero-result searches are its searches times its zero_result_rate. The 20
-- queries with the most zero-result searches in the 7 days ending on the latest published date.
WITH bounds AS (
    SELECT MAX(date) AS last_day FROM gold.search_quality_daily
),
daily AS (
    SELECT
        q.query_normalised,
        q.date,
        q.searches,
        CAST(ROUND(q.searches * q.zero_result_rate) AS BIGINT) AS zero_result_searches
    FROM gold.search_quality_daily AS q
    CROSS JOIN bounds AS b
    WHERE q.date > b.last_day - 7
)
SELECT
    query_normalised,
    SUM(zero_result_searches) AS zero_result_searches,
    SUM(searches) AS searches,
    1.0 * SUM(zero_result_searches) / SUM(searches) AS zero_result_rate,
    COUNT(DISTINCT date) AS days_seen
FROM daily
GROUP BY query_normalised
HAVING SUM(zero_result_searches) > 0
ORDER BY zero_result_searches DESC, query_normalised
LIMIT 20;
