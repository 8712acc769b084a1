"""Receiver of Returning.AI's outgoing webhooks (contract section 9) and its durable landing.

- `config`   settings from the environment (`RETURNING_WEBHOOK_*`), secrets never in a repr
- `auth`     the `x-api-key` check
- `crypto`   the `x-encrypted: true` envelope: AES-256-GCM and -CBC
- `segments` the on-disk format: segment names, sealing, reading, removal (the loader's side)
- `landing`  the writer: group commit, a 2xx only after write + fsync
- `app`      the Starlette app: `POST /webhooks/returning-ai`, `GET /healthz`
- `server`   uvicorn around the app, for `returning-sync webhooks`
- `events`   a landed event turned into its `webhook_events` warehouse row
"""
