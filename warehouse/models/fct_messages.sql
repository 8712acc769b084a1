-- One row per message: its text, when it was posted (UTC) and last edited, the message it replies to
-- (NULL for a top-level message), its reactions, its channel (name, type, private) and its member
-- (user id, email, username, tier; NULL where the warehouse holds no such user).
SELECT
    m.id AS message_id,
    m.channel__channel_id AS channel_id,
    COALESCE(c.topic, m.channel__name) AS channel_name,
    c.type AS channel_type,
    c.is_private AS channel_is_private,
    m.user__user_id AS user_id,
    m.user__email AS email,
    u.username,
    u.tier,
    u.deleted AS user_deleted,
    m.message,
    m.parent_id,
    m.parent_id IS NOT NULL AS is_reply,
    COALESCE(m.reactions, 0) AS reactions,
    m."timestamp" AS posted_at,
    CAST(m."timestamp" AS DATE) AS activity_date,
    m.edited_at
FROM returning_raw.messages AS m
LEFT JOIN returning_raw.channels AS c ON c._id = m.channel__channel_id
LEFT JOIN analytics.dim_users AS u ON u.user_id = m.user__user_id
