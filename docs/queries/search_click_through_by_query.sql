-- Question: Which search queries get clicked, and which are searched but ignored?
-- Columns: query_normalised, searches, click_through_rate, zero_result_rate, search_to_purchase_rate
-- Tables: gold.search_quality_daily
-- Rates over the 7 days ending on the latest published date, each day weighted by its searches:
-- click_through_rate = searches with at least one result click / searches. The 25 most searched
-- normalised queries.
WITH bounds AS (
    SELECT MAX(date) AS last_day FROM gold.search_quality_daily
)
SELECT
    q.query_normalised,
    SUM(q.searches) AS searches,
    SUM(q.searches * q.click_through_rate) / SUM(q.searches) AS click_through_rate,
    SUM(q.searches * q.zero_result_rate) / SUM(q.searches) AS zero_result_rate,
    SUM(q.searches * q.search_to_purchase_rate) / SUM(q.searches) AS search_to_purchase_rate
FROM gold.search_quality_daily AS q
CROSS JOIN bounds AS b
WHERE q.date > b.last_day - 7
GROUP BY q.query_normalised
ORDER BY searches DESC, q.query_normalised
LIMIT 25;
