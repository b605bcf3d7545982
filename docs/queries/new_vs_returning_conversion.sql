-- Question: Do returning visitors convert better than new ones, day by day?
-- Columns: session_date, visitor_type, sessions, converted_sessions, conversion, revenue_per_session
-- Tables: gold.session_facts
-- A visitor is new in the device's first session ever, else returning. Conversion = sessions with
-- an order / sessions; revenue is the orders' totals as placed (IDR).
SELECT
    session_date,
    visitor_type,
    COUNT(*) AS sessions,
    COUNT(*) FILTER (WHERE purchased) AS converted_sessions,
    1.0 * COUNT(*) FILTER (WHERE purchased) / COUNT(*) AS conversion,
    1.0 * SUM(revenue) / COUNT(*) AS revenue_per_session
FROM gold.session_facts
GROUP BY session_date, visitor_type
ORDER BY session_date, visitor_type;
