-- One row per channel and UTC day with at least one message: messages posted (replies included),
-- the replies among them, and distinct posters.
SELECT
    channel_id,
    MAX(channel_name) AS channel_name,
    activity_date,
    COUNT(*) AS messages,
    COUNT(CASE WHEN is_reply THEN 1 END) AS replies,
    COUNT(DISTINCT user_id) AS posters
FROM analytics.fct_messages
GROUP BY channel_id, activity_date
