-- Question: Which categories advertised the most misleading discounts on the latest sale day?
-- Columns: sale_date, sale_name, category, judged, misleading, misleading_share, median_advertised_cut
-- Tables: gold.discount_integrity
-- The newest sale day in the warehouse, per top-level category: discounts that could be judged
-- (shown in the 30 days before), how many of them were misleading (the price not below the 30-day
-- low, or the list price raised in the two weeks before) and the median cut the pages advertised.
WITH latest AS (
    SELECT MAX(sale_date) AS sale_date FROM gold.discount_integrity
)
SELECT
    d.sale_date,
    d.sale_name,
    split_part(d.category, ' > ', 1) AS category,
    COUNT(*) AS judged,
    COUNT(*) FILTER (WHERE d.flagged) AS misleading,
    1.0 * COUNT(*) FILTER (WHERE d.flagged) / COUNT(*) AS misleading_share,
    PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY d.discount_share) AS median_advertised_cut
FROM gold.discount_integrity AS d
JOIN latest USING (sale_date)
WHERE d.verdict IN ('misleading', 'genuine')
GROUP BY d.sale_date, d.sale_name, split_part(d.category, ' > ', 1)
ORDER BY misleading DESC, category;
