-- One row per user and day of the daily gamification history: xp and coins earned that day,
-- with the day's logged events and coins spent from the gamification logs.
WITH events AS (
    SELECT
        user_id,
        activity_date,
        COUNT(*) AS events,
        CAST(SUM(coins_spent) AS BIGINT) AS coins_spent
    FROM analytics.fct_gamification_events
    GROUP BY user_id, activity_date
)
SELECT
    d.user_id,
    d.date AS activity_date,
    d.identifier,
    d.xp AS xp_earned,
    d.coins AS coins_earned,
    COALESCE(e.events, 0) AS events,
    COALESCE(e.coins_spent, 0) AS coins_spent,
    d.xp > 0 OR COALESCE(e.events, 0) > 0 AS active
FROM returning_raw.gamification_daily AS d
LEFT JOIN events AS e ON e.user_id = d.user_id AND e.activity_date = d.date
