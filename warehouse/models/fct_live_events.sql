-- One row per live event the platform pushed (webhooks, contract 9; `returning-sync webhooks`), each
-- event id once, with its type's fields pulled out of the payload: the message and its channel for
-- `message.posted`, the product, quantity, price and currency for `store.purchased`.
WITH e AS (
    SELECT *, CAST(payload AS JSON) AS doc
    FROM returning_raw.webhook_events
)
SELECT
    e.id AS event_id,
    e.event,
    e.created_at,
    e.received_at,
    CAST(e.created_at AS DATE) AS event_day,
    e.member_id,
    e.member_email,
    e.channel_id,
    e.order_id,
    json_extract_string(e.doc, '$.data.message.id') AS message_id,
    json_extract_string(e.doc, '$.data.message.parentId') AS parent_message_id,
    json_extract_string(e.doc, '$.data.channel.name') AS channel_name,
    json_extract_string(e.doc, '$.data.product._id') AS product_id,
    json_extract_string(e.doc, '$.data.product.name') AS product_name,
    CAST(json_extract_string(e.doc, '$.data.quantity') AS DOUBLE) AS quantity,
    CAST(json_extract_string(e.doc, '$.data.product.price') AS DOUBLE) AS price,
    json_extract_string(e.doc, '$.data.currency') AS currency
FROM e
