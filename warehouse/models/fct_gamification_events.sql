-- One row per gamification log entry: who, what, when, and the xp and coins it moved
-- (negative coins are spending, e.g. redemptions).
SELECT
    l._id AS event_id,
    l.user_id,
    l.identifier,
    l.action,
    l.xp,
    l.coins,
    CASE WHEN l.coins > 0 THEN l.coins ELSE 0 END AS coins_earned,
    CASE WHEN l.coins < 0 THEN -l.coins ELSE 0 END AS coins_spent,
    CASE WHEN l.xp > 0 THEN l.xp ELSE 0 END AS xp_earned,
    CASE WHEN l.xp < 0 THEN -l.xp ELSE 0 END AS xp_spent,
    l.balance_xp,
    l.balance_coins,
    l.created_at AS occurred_at,
    CAST(l.created_at AS DATE) AS activity_date
FROM returning_raw.gamification_logs AS l
