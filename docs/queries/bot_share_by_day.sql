-- Question: What share of all events came from bots, day by day?
-- Columns: date, all_events, bot_events, no_consent_events, bot_share
-- Tables: gold.traffic_hourly
-- Per UTC date: every event the site received (consenting humans, humans without analytics
-- consent and actors with a bot verdict); bot_share = bot events / all events.
SELECT
    date,
    SUM(events + no_consent_events + bot_events) AS all_events,
    SUM(bot_events) AS bot_events,
    SUM(no_consent_events) AS no_consent_events,
    1.0 * SUM(bot_events) / NULLIF(SUM(events + no_consent_events + bot_events), 0) AS bot_share
FROM gold.traffic_hourly
GROUP BY date
ORDER BY date;
