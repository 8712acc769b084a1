-- Validity intervals per user and field from the field history: each value holds from its change
-- (inclusive) until the next change of the same field for the same user (exclusive; NULL = current).
SELECT
    h.user_id,
    h.field,
    h.field_id,
    h.value,
    h.previous_value,
    h.source,
    h._id AS change_id,
    h.created_at AS valid_from,
    LEAD(h.created_at) OVER (PARTITION BY h.user_id, h.field ORDER BY h.created_at, h._id) AS valid_to,
    LEAD(h.created_at) OVER (PARTITION BY h.user_id, h.field ORDER BY h.created_at, h._id) IS NULL AS is_current
FROM returning_raw.user_field_histories AS h
