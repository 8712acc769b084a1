-- One row per day: active users (DAU, and WAU/MAU over the 7 and 30 days ending that day), users who
-- joined that day, returning active users (joined earlier), xp and coins earned and spent, redemptions,
-- messages posted (replies included).
-- Sums are BIGINT on every engine (DuckDB's would be HUGEINT, Postgres' NUMERIC).
WITH days AS (
    SELECT DISTINCT activity_date FROM analytics.fct_gamification_events
    UNION
    SELECT DISTINCT date FROM returning_raw.gamification_daily
),
active AS (
    SELECT DISTINCT user_id, activity_date FROM analytics.fct_gamification_events
),
joins AS (
    SELECT user_id, CAST(join_date AS DATE) AS join_day FROM analytics.dim_users
),
rolling AS (
    SELECT
        d.activity_date,
        COUNT(DISTINCT CASE WHEN a.activity_date = d.activity_date THEN a.user_id END) AS dau,
        COUNT(DISTINCT CASE WHEN a.activity_date > d.activity_date - INTERVAL 7 DAY THEN a.user_id END) AS wau,
        COUNT(DISTINCT a.user_id) AS mau
    FROM days AS d
    LEFT JOIN active AS a
        ON a.activity_date <= d.activity_date AND a.activity_date > d.activity_date - INTERVAL 30 DAY
    GROUP BY d.activity_date
),
returning_users AS (
    SELECT a.activity_date, COUNT(*) AS returning_users
    FROM active AS a
    JOIN joins AS j ON j.user_id = a.user_id AND j.join_day < a.activity_date
    GROUP BY a.activity_date
),
new_users AS (
    SELECT join_day AS activity_date, COUNT(*) AS new_users FROM joins GROUP BY join_day
),
movement AS (
    SELECT
        activity_date,
        COUNT(*) AS events,
        CAST(SUM(xp_earned) AS BIGINT) AS xp_earned,
        CAST(SUM(xp_spent) AS BIGINT) AS xp_spent,
        CAST(SUM(coins_earned) AS BIGINT) AS coins_earned,
        CAST(SUM(coins_spent) AS BIGINT) AS coins_spent
    FROM analytics.fct_gamification_events
    GROUP BY activity_date
),
orders AS (
    SELECT CAST(ordered_at AS DATE) AS activity_date, COUNT(*) AS redemptions,
           CAST(SUM(CASE WHEN currency = 'coins' THEN total_price ELSE 0 END) AS BIGINT) AS coins_redeemed
    FROM analytics.fct_redemptions
    GROUP BY CAST(ordered_at AS DATE)
),
posts AS (
    SELECT activity_date, COUNT(*) AS messages FROM analytics.fct_messages GROUP BY activity_date
)
SELECT
    r.activity_date,
    r.dau,
    r.wau,
    r.mau,
    COALESCE(n.new_users, 0) AS new_users,
    COALESCE(ru.returning_users, 0) AS returning_users,
    COALESCE(m.events, 0) AS events,
    COALESCE(m.xp_earned, 0) AS xp_earned,
    COALESCE(m.xp_spent, 0) AS xp_spent,
    COALESCE(m.coins_earned, 0) AS coins_earned,
    COALESCE(m.coins_spent, 0) AS coins_spent,
    COALESCE(o.redemptions, 0) AS redemptions,
    COALESCE(o.coins_redeemed, 0) AS coins_redeemed,
    COALESCE(p.messages, 0) AS messages
FROM rolling AS r
LEFT JOIN new_users AS n ON n.activity_date = r.activity_date
LEFT JOIN returning_users AS ru ON ru.activity_date = r.activity_date
LEFT JOIN movement AS m ON m.activity_date = r.activity_date
LEFT JOIN orders AS o ON o.activity_date = r.activity_date
LEFT JOIN posts AS p ON p.activity_date = r.activity_date
