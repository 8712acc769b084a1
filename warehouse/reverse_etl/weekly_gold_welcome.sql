-- target: message
-- period: week_start
-- schedule: 0 8 * * 1
-- retries: 2
-- description: Welcomes the members who reached Gold during the last complete week (Monday to Sunday, UTC)
--   of the warehouse's activity, in one message to the channel named in `seeds.announcements`
--   (purpose `gold_welcome`: channel topic and sender). The push key (definition, channel, sender, week)
--   posts it at most once per week, however often it runs; at most 40 names, then "and N more".
WITH cfg AS (  -- where and as whom: a seed the community edits, matched to a text channel by its topic
    SELECT c._id AS channel_id, a.sender
    FROM seeds.announcements AS a
    JOIN returning_raw.channels AS c ON lower(trim(c.topic)) = lower(trim(a.channel_topic))
    WHERE a.purpose = 'gold_welcome' AND c."type" = 'text'
),
gold AS (  -- the XP at which Gold starts (its lowest level)
    SELECT min(l.xp) AS xp_floor
    FROM returning_raw.tiers AS t
    JOIN returning_raw.tiers__levels AS l ON l._dlt_parent_id = t._dlt_id
    WHERE t.name = 'Gold'
),
week AS (  -- "now" is the latest activity; the week is the last one that ended by then
    SELECT date_trunc('week', max(CAST(occurred_at AS TIMESTAMP)) + INTERVAL 1 DAY) - INTERVAL 7 DAY AS week_start
    FROM analytics.fct_gamification_events
),
crossed AS (  -- members with an event that took their XP from below the Gold floor to it or above
    SELECT DISTINCT e.user_id
    FROM analytics.fct_gamification_events AS e
    CROSS JOIN week AS w
    CROSS JOIN gold AS g
    WHERE CAST(e.occurred_at AS TIMESTAMP) >= w.week_start
      AND CAST(e.occurred_at AS TIMESTAMP) < w.week_start + INTERVAL 7 DAY
      AND e.balance_xp - e.xp < g.xp_floor
      AND e.balance_xp >= g.xp_floor
),
named AS (
    SELECT coalesce(u.display_name, u.username) AS name,
           row_number() OVER (ORDER BY coalesce(u.display_name, u.username), u.user_id) AS n,
           count(*) OVER () AS total
    FROM crossed AS c
    JOIN analytics.dim_users AS u ON u.user_id = c.user_id AND NOT u.deleted
)
SELECT cfg.channel_id,
       cfg.sender,
       'Welcome to Gold this week: '
           || string_agg(CASE WHEN n.n <= 40 THEN n.name END, ', ' ORDER BY n.n)
           || CASE WHEN max(n.total) > 40 THEN ' and ' || CAST(max(n.total) - 40 AS VARCHAR) || ' more' ELSE '' END
           || '! Thank you for being part of the community.' AS message,
       strftime(w.week_start, '%Y-%m-%d') AS week_start
FROM named AS n
CROSS JOIN cfg
CROSS JOIN week AS w
GROUP BY cfg.channel_id, cfg.sender, w.week_start
