-- One row per member (deleted ones flagged): messages posted (replies included) and mini-games played
-- and won in the 7 and 30 days up to `as_of`, and when they were last seen (latest of last login,
-- message and mini-game). `as_of` is the latest activity the warehouse holds (a message, a mini-game
-- or a gamification log), not the wall clock, so the windows follow the data's own time.
WITH bounds AS (
    SELECT MAX(t) AS as_of FROM (
        SELECT MAX("timestamp") AS t FROM returning_raw.messages
        UNION ALL
        SELECT MAX(created_at) FROM returning_raw.minigame_logs
        UNION ALL
        SELECT MAX(occurred_at) FROM analytics.fct_gamification_events
    ) AS latest
),
posted AS (
    SELECT
        m.user__user_id AS user_id,
        COUNT(CASE WHEN m."timestamp" > b.as_of - INTERVAL 7 DAY THEN 1 END) AS messages_7d,
        COUNT(CASE WHEN m."timestamp" > b.as_of - INTERVAL 30 DAY THEN 1 END) AS messages_30d,
        MAX(m."timestamp") AS last_message_at
    FROM returning_raw.messages AS m
    CROSS JOIN bounds AS b
    GROUP BY m.user__user_id
),
played AS (
    SELECT
        g.user_id,
        COUNT(CASE WHEN g.created_at > b.as_of - INTERVAL 7 DAY THEN 1 END) AS games_7d,
        COUNT(CASE WHEN g.created_at > b.as_of - INTERVAL 30 DAY THEN 1 END) AS games_30d,
        COUNT(CASE WHEN g.created_at > b.as_of - INTERVAL 30 DAY AND g.outcome = 'win' THEN 1 END) AS game_wins_30d,
        MAX(g.created_at) AS last_game_at
    FROM returning_raw.minigame_logs AS g
    CROSS JOIN bounds AS b
    GROUP BY g.user_id
),
seen AS (
    SELECT user_id, MAX(t) AS last_seen_at FROM (
        SELECT user_id, last_login AS t FROM analytics.dim_users
        UNION ALL
        SELECT user_id, last_message_at FROM posted
        UNION ALL
        SELECT user_id, last_game_at FROM played
    ) AS s
    GROUP BY user_id
)
SELECT
    u.user_id,
    u.email,
    u.username,
    u.deleted,
    COALESCE(p.messages_7d, 0) AS messages_7d,
    COALESCE(p.messages_30d, 0) AS messages_30d,
    COALESCE(g.games_7d, 0) AS games_7d,
    COALESCE(g.games_30d, 0) AS games_30d,
    COALESCE(g.game_wins_30d, 0) AS game_wins_30d,
    p.last_message_at,
    g.last_game_at,
    s.last_seen_at,
    b.as_of
FROM analytics.dim_users AS u
CROSS JOIN bounds AS b
LEFT JOIN posted AS p ON p.user_id = u.user_id
LEFT JOIN played AS g ON g.user_id = u.user_id
LEFT JOIN seen AS s ON s.user_id = u.user_id
