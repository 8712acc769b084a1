-- target: redemption_status
-- schedule: 0 * * * *
-- retries: 3
-- description: Marks the redemption orders listed in the fulfilment file `seeds.fulfilment` (transaction_id,
--   status by name, e.g. Shipping) with that status. An overwrite: an order is sent only when the status
--   differs from the last one the server confirmed for it. Orders already complete or cancelled are left
--   alone; ids or status names the warehouse does not know come out as invalid rows with the reason.
SELECT trim(f.transaction_id) AS transaction_id,
       s._id AS status_id
FROM seeds.fulfilment AS f
LEFT JOIN returning_raw.redemption_statuses AS s ON lower(trim(s.name)) = lower(trim(f.status))
LEFT JOIN returning_raw.redemption_orders AS o ON o.transaction_id = trim(f.transaction_id)
WHERE coalesce(o.status__category, 'incomplete') = 'incomplete'
ORDER BY 1
