-- target: purchase_history
-- schedule: 15 * * * *
-- retries: 2
-- description: Attaches voucher codes from the file `seeds.voucher_codes` (purchase_history_id: the purchase's
--   _id or its ORD order id; voucher_code with voucher_expiry_date as DD/MM/YYYY; optional
--   redemption_instructions) to the purchases. An overwrite: a purchase is sent only when its values differ
--   from the last ones the server confirmed. The voucher rule of 8.6 is checked before sending; a code another
--   purchase of the product holds is the server's 409, recorded on the row.
SELECT trim(v.purchase_history_id) AS purchase_history_id,
       trim(v.voucher_code) AS voucher_code,
       trim(v.voucher_expiry_date) AS voucher_expiry_date,
       v.redemption_instructions
FROM seeds.voucher_codes AS v
ORDER BY 1
