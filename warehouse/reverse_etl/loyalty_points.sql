-- target: users
-- key: email
-- columns: loyalty_points=overwrite
-- schedule: 30 6 * * *
-- retries: 3
-- description: The custom field `loyalty_points`, computed in the warehouse: coins earned plus 2 points per
--   action over the 30 days up to the latest activity (bulk updates excluded, so pushes never feed back).
--   Overwrite: a member is sent only when the value differs from the last one the server confirmed.
WITH until AS (
    SELECT max(CAST(occurred_at AS TIMESTAMP)) AS ts FROM analytics.fct_gamification_events
),
earned AS (
    SELECT e.user_id,
           sum(e.coins_earned) AS coins_30d,
           count(*) AS actions_30d
    FROM analytics.fct_gamification_events AS e
    CROSS JOIN until AS n
    WHERE e.action <> 'bulk_update'
      AND CAST(e.occurred_at AS TIMESTAMP) > n.ts - INTERVAL 30 DAY
      AND CAST(e.occurred_at AS TIMESTAMP) <= n.ts
    GROUP BY e.user_id
)
SELECT u.email,
       CAST(coalesce(e.coins_30d, 0) + 2 * coalesce(e.actions_30d, 0) AS BIGINT) AS loyalty_points
FROM analytics.dim_users AS u
LEFT JOIN earned AS e ON e.user_id = u.user_id
WHERE NOT u.deleted
ORDER BY u.email
