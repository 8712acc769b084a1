-- target: premium_currency
-- key: email
-- columns: premium_currency=add
-- period: month_start
-- schedule: 0 7 1 * *
-- retries: 2
-- description: 25 premium currency for the 10 members who earned the most XP in the last complete calendar
--   month (UTC) of the warehouse's activity; ties broken by member id. Once per member and month.
WITH month AS (
    SELECT date_trunc('month', max(CAST(occurred_at AS TIMESTAMP)) + INTERVAL 1 DAY) - INTERVAL 1 MONTH AS month_start
    FROM analytics.fct_gamification_events
),
earned AS (
    SELECT e.user_id, sum(e.xp_earned) AS xp_month
    FROM analytics.fct_gamification_events AS e
    CROSS JOIN month AS m
    WHERE e.action <> 'bulk_update'
      AND CAST(e.occurred_at AS TIMESTAMP) >= m.month_start
      AND CAST(e.occurred_at AS TIMESTAMP) < m.month_start + INTERVAL 1 MONTH
    GROUP BY e.user_id
),
ranked AS (
    SELECT e.user_id, row_number() OVER (ORDER BY e.xp_month DESC, e.user_id) AS rank
    FROM earned AS e
    JOIN analytics.dim_users AS u ON u.user_id = e.user_id AND NOT u.deleted
    WHERE e.xp_month > 0
)
SELECT u.email,
       25 AS premium_currency,
       strftime(m.month_start, '%Y-%m-%d') AS month_start
FROM ranked AS r
JOIN analytics.dim_users AS u ON u.user_id = r.user_id
CROSS JOIN month AS m
WHERE r.rank <= 10
ORDER BY r.rank
