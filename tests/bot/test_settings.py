"""Settings from DAREKANA_* variables."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from darekana.bot.settings import Settings, parse_rate


def test_defaults_and_overrides():
    assert Settings.from_env({}) == Settings()
    settings = Settings.from_env(
        {
            "DAREKANA_BUNDLE": "models/x",
            "DAREKANA_HTTP_PORT": "9000",
            "DAREKANA_MAX_PICTURE_MB": "2.5",
            "DAREKANA_DISCORD_TOKEN": "t",
            "DAREKANA_DATABASE_URL": "postgresql+psycopg://u@h/db",
            "DAREKANA_HTTP_HOST": "",
        }
    )
    assert settings.bundle == Path("models/x") and settings.http_port == 9000 and settings.max_picture_mb == 2.5
    assert settings.discord_token == "t" and settings.database_url.startswith("postgresql")
    assert settings.http_host == "127.0.0.1"  # empty means default


def test_discord_shards():
    assert Settings().discord_shards() == (None, None)  # as Discord advises, all here
    assert Settings(discord_shard_count=6).discord_shards() == (6, None)
    assert Settings(discord_shard_count=6, discord_shard_ids=" 4, 1,4").discord_shards() == (6, [1, 4])


@pytest.mark.parametrize(
    "env, message",
    [
        ({"DAREKANA_HTTP_PORT": "eighty"}, "DAREKANA_HTTP_PORT='eighty'"),
        ({"DAREKANA_USER_RATE": "fast"}, "6/60"),
        ({"DAREKANA_CHANNEL_RATE": "0/60"}, "at least one"),
        ({"DAREKANA_DISCORD_SHARD_IDS": "0,1"}, "needs DAREKANA_DISCORD_SHARD_COUNT"),
        ({"DAREKANA_DISCORD_SHARD_IDS": "0-1", "DAREKANA_DISCORD_SHARD_COUNT": "4"}, "should look like 0,1"),
        ({"DAREKANA_DISCORD_SHARD_IDS": "3,4", "DAREKANA_DISCORD_SHARD_COUNT": "4"}, "among 0 to 3"),
        ({"DAREKANA_OPERATORS": "1234,alice"}, "DAREKANA_OPERATORS='1234,alice' should be Discord user ids"),
        ({"DAREKANA_RETENTION_DAYS": "-1"}, "DAREKANA_RETENTION_DAYS must be 0 or more"),
        ({"DAREKANA_RETENTION_DAYS": "a month"}, "DAREKANA_RETENTION_DAYS='a month' is not a valid int"),
        ({"DAREKANA_GUILD_GRACE_DAYS": "-7"}, "DAREKANA_GUILD_GRACE_DAYS must be 0 or more"),
    ],
)
def test_bad_values_say_which_variable(env: dict[str, str], message: str):
    with pytest.raises(ValueError, match=message):
        Settings.from_env(env)


def test_env_example_lists_every_setting():
    example = (Path(__file__).resolve().parents[2] / ".env.example").read_text()
    for name in Settings.__dataclass_fields__:
        assert f"DAREKANA_{name.upper()}=" in example, name
    assert parse_rate("6/60") == (6, 60.0)


def test_multi_scale_detection_and_workers_from_the_environment():
    from darekana.recognizer.detect import MULTI_SCALE

    assert Settings().detection() is None
    settings = Settings.from_env({"DAREKANA_DETECT_MULTI_SCALE": "yes", "DAREKANA_RECOGNITION_WORKERS": "0"})
    assert settings.detection() == {"scales": MULTI_SCALE}
    assert settings.workers() >= 1 and settings.threads_per_recognition() >= 1
    assert Settings(recognition_workers=1).threads_per_recognition() == (os.cpu_count() or 1)


def test_operators_retention_and_grace_from_the_environment():
    settings = Settings.from_env(
        {"DAREKANA_OPERATORS": " 1234, 5678,", "DAREKANA_RETENTION_DAYS": "0", "DAREKANA_GUILD_GRACE_DAYS": "14"}
    )
    assert settings.operator_ids() == {"1234", "5678"} and Settings().operator_ids() == frozenset()
    assert (settings.retention_days, settings.guild_grace_days) == (0, 14)
    assert (Settings().retention_days, Settings().guild_grace_days) == (30, 7)  # the defaults
