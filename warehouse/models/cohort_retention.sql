-- Weekly join cohorts (weeks start Monday): for each cohort and week since joining, how many of the
-- cohort's users had any gamification activity that week, and that share of the cohort.
WITH cohorts AS (
    SELECT user_id, CAST(DATE_TRUNC('week', CAST(join_date AS DATE)) AS DATE) AS cohort_week
    FROM analytics.dim_users
),
sizes AS (
    SELECT cohort_week, COUNT(*) AS cohort_size FROM cohorts GROUP BY cohort_week
),
activity AS (
    SELECT DISTINCT c.cohort_week, e.user_id, CAST(DATE_TRUNC('week', e.activity_date) AS DATE) AS activity_week
    FROM analytics.fct_gamification_events AS e
    JOIN cohorts AS c ON c.user_id = e.user_id
)
SELECT
    a.cohort_week,
    CAST(DATE_DIFF('day', a.cohort_week, a.activity_week) // 7 AS INTEGER) AS weeks_since_join,
    s.cohort_size,
    COUNT(*) AS active_users,
    -- DECIMAL: Postgres rounds only numerics to a number of places
    CAST(ROUND(CAST(COUNT(*) AS DECIMAL(18, 6)) / s.cohort_size, 4) AS DOUBLE) AS retention
FROM activity AS a
JOIN sizes AS s ON s.cohort_week = a.cohort_week
WHERE a.activity_week >= a.cohort_week
GROUP BY a.cohort_week, a.activity_week, s.cohort_size
