-- target: users
-- key: email
-- columns: coins=add
-- period: week_start
-- schedule: 0 6 * * 1
-- retries: 2
-- description: 500 bonus coins for every member whose XP crossed into a new tier (Silver, Gold, ...)
--   during the last complete week (Monday to Sunday, UTC) of the warehouse's activity. The push key
--   (definition, member, week) means a member gets the bonus at most once per week, however often it runs.
WITH tier_floor AS (  -- the XP at which each tier starts (its lowest level)
    SELECT t.name AS tier, min(l.xp) AS xp_floor
    FROM returning_raw.tiers AS t
    JOIN returning_raw.tiers__levels AS l ON l._dlt_parent_id = t._dlt_id
    GROUP BY t.name
),
week AS (  -- "now" is the latest activity; the week is the last one that ended by then
    SELECT date_trunc('week', max(CAST(occurred_at AS TIMESTAMP)) + INTERVAL 1 DAY) - INTERVAL 7 DAY AS week_start
    FROM analytics.fct_gamification_events
),
week_events AS (  -- each member's events of that week, numbered from the first and from the last
    SELECT e.user_id,
           e.balance_xp - e.xp AS xp_before,
           e.balance_xp AS xp_after,
           row_number() OVER (PARTITION BY e.user_id
                              ORDER BY CAST(e.occurred_at AS TIMESTAMP), e.event_id) AS from_first,
           row_number() OVER (PARTITION BY e.user_id
                              ORDER BY CAST(e.occurred_at AS TIMESTAMP) DESC, e.event_id DESC) AS from_last
    FROM analytics.fct_gamification_events AS e
    CROSS JOIN week AS w
    WHERE CAST(e.occurred_at AS TIMESTAMP) >= w.week_start
      AND CAST(e.occurred_at AS TIMESTAMP) < w.week_start + INTERVAL 7 DAY
),
week_xp AS (  -- XP before the week's first event and after its last
    SELECT user_id,
           max(CASE WHEN from_first = 1 THEN xp_before END) AS xp_before,
           max(CASE WHEN from_last = 1 THEN xp_after END) AS xp_after
    FROM week_events
    GROUP BY user_id
)
SELECT u.email,
       500 AS coins,
       strftime(w.week_start, '%Y-%m-%d') AS week_start
FROM week_xp AS x
JOIN analytics.dim_users AS u ON u.user_id = x.user_id AND NOT u.deleted
CROSS JOIN week AS w
WHERE EXISTS (
    SELECT 1 FROM tier_floor AS f
    WHERE f.xp_floor > 0 AND x.xp_before < f.xp_floor AND x.xp_after >= f.xp_floor
)
ORDER BY u.email
