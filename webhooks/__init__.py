"""Receiver of Returning.AI's outgoing webhooks (contract section 9) and its durable landing.

- `config`   settings from the environment (`RETURNING_WEBHOOK_*`), secrets never in a repr
- `auth`     the `x-api-key` check
- `crypto`   the `x-encrypted: true` envelope: AES-256-GCM and -CBC
- `segments` the on-disk format: segment names, sealing, reading, removal (the loader's side)
- `landing`  the writer: group commit, a 2xx only after write + fsync
- `app`      the ASGI app: `POST /webhooks/returning-ai`, `GET /healthz`
- `server`   uvicorn around the app, for `returning-sync webhooks` (also `python -m webhooks`)
- `events`   a landed event turned into its `webhook_events` warehouse row

Decisions a user may want to know:
- Without `RETURNING_WEBHOOK_KEY` the receiver refuses to start (exit 2) unless `--allow-no-key` is
  given: an open port that lands anything is never the default.
- An encrypted body's mode is told by its IV: 12 bytes GCM, 16 bytes CBC (the contract fixes one IV
  length per mode). A plain delivery is accepted while an AES key is set (the key check authenticates).
- Redeliveries (same `id`) are acknowledged and landed again, each as its own line; the load keeps one
  row per `id` (`events.rows`, then a merge on `id`).
- The landed lines hold the decrypted events (members' e-mail addresses): segment files are 0600.
"""
