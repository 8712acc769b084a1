-- target: premium_currency
-- key: email
-- columns: premium_currency=add
-- period: month_start
-- schedule: 0 7 1 * *
-- retries: 2
-- description: 25 premium currency for the 10 members who earned the most XP in the last complete calendar
--   month (UTC) of the warehouse's activity; ties broken by member id. Once per member and month.
WITH month AS (
    SELECT date_trunc('month', max(CAST(created_at AS TIMESTAMP)) + INTERVAL 1 DAY) - INTERVAL 1 MONTH AS month_start
    FROM returning_raw.gamification_logs
),
earned AS (
    SELECT g.user_id, sum(g.xp) AS xp_month
    FROM returning_raw.gamification_logs AS g
    CROSS JOIN month AS m
    WHERE g.action <> 'bulk_update'
      AND CAST(g.created_at AS TIMESTAMP) >= m.month_start
      AND CAST(g.created_at AS TIMESTAMP) < m.month_start + INTERVAL 1 MONTH
    GROUP BY g.user_id
),
ranked AS (
    SELECT e.user_id, e.xp_month, row_number() OVER (ORDER BY e.xp_month DESC, e.user_id) AS rank
    FROM earned AS e
    JOIN returning_raw.users AS u ON u._id = e.user_id
    WHERE e.xp_month > 0
)
SELECT u.email,
       25 AS premium_currency,
       strftime(m.month_start, '%Y-%m-%d') AS month_start
FROM ranked AS r
JOIN returning_raw.users AS u ON u._id = r.user_id
CROSS JOIN month AS m
WHERE r.rank <= 10
ORDER BY r.rank
