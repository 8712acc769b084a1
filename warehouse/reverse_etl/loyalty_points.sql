-- target: users
-- key: email
-- columns: loyalty_points=overwrite
-- schedule: 30 6 * * *
-- retries: 3
-- description: The custom field `loyalty_points`, computed in the warehouse: coins earned plus 2 points per
--   action over the 30 days up to the latest activity (bulk updates excluded, so pushes never feed back).
--   Overwrite: a member is sent only when the value differs from the last one the server confirmed.
WITH until AS (
    SELECT max(CAST(created_at AS TIMESTAMP)) AS ts FROM returning_raw.gamification_logs
),
earned AS (
    SELECT g.user_id,
           sum(greatest(g.coins, 0)) AS coins_30d,
           count(*) AS actions_30d
    FROM returning_raw.gamification_logs AS g
    CROSS JOIN until AS n
    WHERE g.action <> 'bulk_update'
      AND CAST(g.created_at AS TIMESTAMP) > n.ts - INTERVAL 30 DAY
      AND CAST(g.created_at AS TIMESTAMP) <= n.ts
    GROUP BY g.user_id
)
SELECT u.email,
       CAST(coalesce(e.coins_30d, 0) + 2 * coalesce(e.actions_30d, 0) AS BIGINT) AS loyalty_points
FROM returning_raw.users AS u
LEFT JOIN earned AS e ON e.user_id = u._id
ORDER BY u.email
