-- Question: At what local hour do buyers in each region prefer to buy?
-- Columns: region, preferred_hour, buyers, share_of_region_buyers
-- Tables: gold.purchase_time_profile, gold.session_facts
-- From the newest as_of_date of the profiles: each buyer's preferred hour (circular mean of their
-- purchase times, in their own local time zone) floored to the hour, counted per region. A buyer's
-- region is that of their latest session ('(unknown)' without one); buyers whose purchase times
-- cancel out have no preferred hour and are left out. The three most common hours per region.
WITH latest AS (
    SELECT user_id, preferred_hour
    FROM gold.purchase_time_profile
    WHERE as_of_date = (SELECT MAX(as_of_date) FROM gold.purchase_time_profile)
      AND preferred_hour IS NOT NULL
),
last_region AS (
    SELECT user_id, region
    FROM (
        SELECT
            user_id,
            region,
            ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY session_start DESC, session_id) AS n
        FROM gold.session_facts
        WHERE user_id IS NOT NULL
    ) AS ranked
    WHERE n = 1
),
counted AS (
    SELECT
        COALESCE(r.region, '(unknown)') AS region,
        CAST(FLOOR(l.preferred_hour) AS INTEGER) AS preferred_hour,
        COUNT(*) AS buyers
    FROM latest AS l
    LEFT JOIN last_region AS r ON r.user_id = l.user_id
    GROUP BY COALESCE(r.region, '(unknown)'), CAST(FLOOR(l.preferred_hour) AS INTEGER)
),
ranked AS (
    SELECT
        region,
        preferred_hour,
        buyers,
        1.0 * buyers / SUM(buyers) OVER (PARTITION BY region) AS share_of_region_buyers,
        ROW_NUMBER() OVER (PARTITION BY region ORDER BY buyers DESC, preferred_hour) AS n
    FROM counted
)
SELECT region, preferred_hour, buyers, share_of_region_buyers
FROM ranked
WHERE n <= 3
ORDER BY region, buyers DESC, preferred_hour;
