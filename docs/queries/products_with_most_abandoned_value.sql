-- Question: Which products are most often put in a cart and not bought, and roughly what value is left behind?
-- Columns: product_id, top_category, brand, cart_sessions, purchase_sessions, left_in_cart_sessions, average_unit_price, estimated_value_left
-- Tables: gold.product_engagement_daily
-- Over the 7 days ending on the latest published date: sessions that added the product to a cart
-- minus sessions that ordered it. The warehouse holds carts per product but not the carts' lines,
-- so the value is an estimate: those sessions times the product's average selling price in the
-- same days (units of one each; null when the product sold nothing then). The top 20 products.
WITH bounds AS (
    SELECT MAX(date) AS last_day FROM gold.product_engagement_daily
),
products AS (
    SELECT
        e.product_id,
        MAX(e.top_category) AS top_category,
        MAX(e.brand) AS brand,
        SUM(e.cart_sessions) AS cart_sessions,
        SUM(e.purchase_sessions) AS purchase_sessions,
        SUM(e.units_sold) AS units_sold,
        SUM(e.revenue) AS revenue
    FROM gold.product_engagement_daily AS e
    CROSS JOIN bounds AS b
    WHERE e.date > b.last_day - 7
    GROUP BY e.product_id
)
SELECT
    product_id,
    top_category,
    brand,
    cart_sessions,
    purchase_sessions,
    cart_sessions - purchase_sessions AS left_in_cart_sessions,
    1.0 * revenue / NULLIF(units_sold, 0) AS average_unit_price,
    (cart_sessions - purchase_sessions) * (1.0 * revenue / NULLIF(units_sold, 0)) AS estimated_value_left
FROM products
WHERE cart_sessions > purchase_sessions
ORDER BY estimated_value_left DESC NULLS LAST, left_in_cart_sessions DESC, product_id
LIMIT 20;
