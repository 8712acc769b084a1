-- One row per redemption order: the order, its purchase history (voucher), the product and its
-- category, the current status and the time from order to the first completed status.
WITH completed AS (
    SELECT transaction_id, MIN(changed_at) AS completed_at
    FROM returning_raw.redemption_status_history
    WHERE category = 'complete'
    GROUP BY transaction_id
),
status_changes AS (
    SELECT transaction_id, COUNT(*) AS status_changes
    FROM returning_raw.redemption_status_history
    GROUP BY transaction_id
)
SELECT
    o.transaction_id AS order_id,
    o.user_id,
    o.email,
    o.product_id,
    COALESCE(p.name, o.product_name) AS product_name,
    p.type AS product_type,
    c.name AS category_name,
    o.quantity,
    o.price,
    o.currency,
    o.quantity * o.price AS total_price,
    o.status__name AS status,
    o.status__category AS status_category,
    o.created_at AS ordered_at,
    o.updated_at,
    ph._id AS purchase_history_id,
    ph.voucher_code,
    ph.voucher_expiry_date,
    COALESCE(sc.status_changes, 0) AS status_changes,
    cp.completed_at,
    DATE_DIFF('second', o.created_at, cp.completed_at) / 3600.0 AS hours_to_fulfil
FROM returning_raw.redemption_orders AS o
LEFT JOIN returning_raw.purchase_histories AS ph ON ph.order_id = o.transaction_id
LEFT JOIN returning_raw.store_products AS p ON p._id = o.product_id
LEFT JOIN returning_raw.store_categories AS c ON c._id = p.category_id
LEFT JOIN completed AS cp ON cp.transaction_id = o.transaction_id
LEFT JOIN status_changes AS sc ON sc.transaction_id = o.transaction_id
