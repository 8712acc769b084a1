"""`returning-sync webhooks`: the ready line with the real port, exit 2 with one line on bad settings."""

from __future__ import annotations

import subprocess
import sys

import httpx

from tests.webhooks.sender import PATH, REPO, dumps, event, gcm, receiver_env, start_receiver

CLI = ("-m", "returning_sync.cli", "webhooks")
FAST = ("-m", "webhooks")  # the same command without loading the rest of the CLI


def run_cli(env: dict[str, str], *args: str, command: tuple[str, ...] = FAST) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *command, *args], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=120)


def test_port_zero_prints_the_real_port_and_serves(tmp_path):
    rec = start_receiver(tmp_path, command=CLI)
    try:
        assert not rec.url.endswith(":0")
        assert httpx.get(rec.url + "/healthz").json() == {"status": "ok"}
        assert httpx.get(rec.url + "/nothing").status_code == 404
        assert httpx.get(rec.url + PATH).status_code == 405
    finally:
        rec.stop()
    assert rec.proc.returncode in (0, -15)  # uvicorn re-raises the SIGTERM it handled gracefully


def test_aes_key_of_the_wrong_length_is_exit_2_in_one_line(tmp_path):
    result = run_cli(receiver_env(tmp_path, aes_key="short-key"), "--port", "0", command=CLI)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: RETURNING_WEBHOOK_AES_KEY must be 32 ASCII characters (got 9 characters)"]
    assert "short-key" not in result.stderr + result.stdout


def test_no_key_refuses_to_start_unless_opted_out(tmp_path):
    result = run_cli(receiver_env(tmp_path, key=None), "--port", "0")
    assert result.returncode == 2 and "RETURNING_WEBHOOK_KEY is not set" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    rec = start_receiver(tmp_path, "--allow-no-key", env=receiver_env(tmp_path, key=None, aes_key=None))
    try:
        r = httpx.post(rec.endpoint, content=dumps(event(1)), headers={"content-type": "application/json"})
        assert r.status_code == 200
        # no AES key configured: an encrypted delivery cannot be read, a client error (retried by the sender)
        r = httpx.post(rec.endpoint, content=gcm(dumps(event(2))), headers={"x-encrypted": "true"})
        assert r.status_code == 400 and "RETURNING_WEBHOOK_AES_KEY is not set" in r.json()["message"]
    finally:
        rec.stop()


def test_a_port_in_use_is_exit_2(tmp_path):
    rec = start_receiver(tmp_path)
    try:
        port = rec.url.rsplit(":", 1)[1]
        result = run_cli(receiver_env(tmp_path), "--port", port)
        assert result.returncode == 2 and result.stderr.startswith("error: cannot bind 127.0.0.1:")
    finally:
        rec.stop()


def test_bad_segment_settings_are_exit_2(tmp_path):
    result = run_cli(receiver_env(tmp_path), "--port", "0", "--segment-bytes", "0")
    assert result.returncode == 2 and "--segment-bytes" in result.stderr
