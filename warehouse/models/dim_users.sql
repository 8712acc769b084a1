-- Users as they are now: every profile and custom field column of the raw table, plus the user id,
-- the tier's rank (1 = lowest, from the tiers' level thresholds) and a deleted flag.
WITH tier_ranks AS (
    SELECT
        t.name AS tier_name,
        RANK() OVER (ORDER BY MIN(l.xp)) AS tier_rank
    FROM returning_raw.tiers AS t
    JOIN returning_raw.tiers__levels AS l ON l._dlt_parent_id = t._dlt_id
    GROUP BY t.name
)
SELECT
    u._id AS user_id,
    tr.tier_rank,
    COALESCE(u.is_deleted, FALSE) AS deleted,
    u.*
FROM returning_raw.users AS u
LEFT JOIN tier_ranks AS tr ON tr.tier_name = u.tier
