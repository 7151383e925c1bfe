"""The alerts file: the README's minimal file works as written; every mistake is one line naming the file."""

import subprocess
import sys
import textwrap

import pytest

from aurion_pipeline.alerts.channels import Route, Secret, load_channels, resolve_secrets
from aurion_pipeline.config import ConfigError

MINIMAL = """\
channels:
  - name: ops
    kind: webhook
    url: https://hooks.example.com/aurion
    secret_env: AURION_WEBHOOK_SECRET
"""

FULL = """\
channels:
  - name: ops
    kind: webhook
    url: https://hooks.example.com/aurion
    secret_env: AURION_WEBHOOK_SECRET
    bases: [actual, forecast]
  - name: team
    kind: slack
    webhook_url_env: AURION_SLACK_URL
    tenants: [globex]
    levels: [critical, overage]
  - name: billing
    kind: email
    host: smtp.example.com
    port: 587
    starttls: true
    username_env: AURION_SMTP_USER
    password_env: AURION_SMTP_PASSWORD
    from: aurion@example.com
    to: [billing@example.com, cfo@example.com]
    bases: anomaly
"""


def write(tmp_path, text):
    path = tmp_path / "alerts.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_the_minimal_file_from_the_issue_works_as_written(tmp_path):
    (channel,) = load_channels(write(tmp_path, MINIMAL))
    assert (channel.name, channel.kind, channel.url) == ("ops", "webhook", "https://hooks.example.com/aurion")
    assert channel.env_for("secret") == "AURION_WEBHOOK_SECRET"
    assert channel.route == Route()  # no routing keys: every alert


def test_a_full_file_parses_each_kind_and_its_routes(tmp_path):
    ops, team, billing = load_channels(write(tmp_path, FULL))
    assert ops.route.bases == ("actual", "forecast")
    assert team.env_for("url") == "AURION_SLACK_URL" and team.route.tenants == ("globex",)
    assert (billing.host, billing.port, billing.starttls, billing.sender) == ("smtp.example.com", 587, True,
                                                                            "aurion@example.com")
    assert billing.recipients == ("billing@example.com", "cfo@example.com")
    assert billing.route.bases == ("anomaly",)


@pytest.mark.parametrize(
    "route, alert, accepted",
    [
        pytest.param(Route(), ("acme", "warning", "actual"), True, id="no route takes everything"),
        pytest.param(Route(tenants=("globex",)), ("acme", "warning", "actual"), False, id="other tenant"),
        pytest.param(Route(levels=("overage",)), ("acme", "warning", "forecast"), False, id="lower level"),
        pytest.param(Route(levels=("overage",)), ("acme", "anomaly", "anomaly"), True,
                     id="levels do not filter anomalies"),
        pytest.param(Route(bases=("actual",)), ("acme", "overage", "forecast"), False, id="forecast filtered out"),
        pytest.param(Route(bases=("actual",)), ("acme", "anomaly", "anomaly"), False,
                     id="anomaly filtered out by bases"),
    ],
)
def test_routes(route, alert, accepted):
    assert route.accepts(*alert) is accepted


@pytest.mark.parametrize(
    "text, fragment",
    [
        pytest.param("channels: [", "not readable YAML", id="broken yaml"),
        pytest.param("hooks: []", "must hold `channels:`", id="no channels key"),
        pytest.param("channels: []", "must hold `channels:`", id="empty list"),
        pytest.param("channels:\n  - name: ops\n    kind: pager\n", "kind must be one of", id="unknown kind"),
        pytest.param(MINIMAL.replace("secret_env: AURION_WEBHOOK_SECRET", "secret_env: s3cr3t-value!"),
                     "NAME of an environment variable", id="secret pasted into the file"),
        pytest.param(MINIMAL.replace("secret_env: AURION_WEBHOOK_SECRET", "secret: abc"),
                     "unknown key(s) for a webhook channel: secret", id="secret key instead of secret_env"),
        pytest.param(MINIMAL.replace("https://hooks.example.com", "http://hooks.example.com"),
                     "plain http", id="plain http to a remote host"),
        pytest.param(MINIMAL.replace("https://hooks.example.com/aurion", "ftp://x"), "http(s) URL", id="not http"),
        pytest.param(MINIMAL.replace("https://hooks.example.com/aurion", "https://[::1"), "not a valid URL",
                     id="unclosed IPv6 bracket"),
        pytest.param(MINIMAL.replace("https://hooks.example.com/aurion", "http://localhost:99999/"), "invalid port",
                     id="port out of range"),
        pytest.param(MINIMAL.replace("hooks.example.com", "hooks.exa mple.com"), "spaces", id="space in the host"),
        pytest.param(MINIMAL.replace("https://hooks.example.com", "https://u:pw0canary@hooks.example.com"),
                     "url (not shown: it carries credentials) carries a user or password", id="credentials in the url"),
        pytest.param(MINIMAL + "    levels: [panic]\n", "levels has panic", id="unknown level"),
        pytest.param(MINIMAL + "    bases: [actuals]\n", "bases has actuals", id="unknown basis"),
        pytest.param(MINIMAL + MINIMAL.replace("channels:\n", ""), "used more than once: ops", id="duplicate name"),
        pytest.param("channels:\n  - name: s\n    kind: slack\n    url: https://hooks.slack.com/x\n",
                     "unknown key(s) for a slack channel: url", id="slack url in the file"),
        pytest.param("channels:\n  - {name: s, kind: slack, https://hooks.slack.com/services/pw0canary}\n",
                     "unknown key(s) for a slack channel: (1 not shown", id="a webhook URL pasted as a key"),
        pytest.param("channels:\n  - {name: 'https://hooks.slack.com/services/pw0canary', kind: slack}\n",
                     "needs a name (letters, digits, _ . -), got a value not shown", id="a webhook URL as the name"),
        pytest.param("channels:\n  - {name: m, kind: email, host: smtp.example.com, from: a@b.c, to: []}\n",
                     "to must be an email address", id="email without recipients"),
        pytest.param('channels:\n  - {name: m, kind: email, host: smtp.example.com, from: a@b.c, to: "x@y.z\\n"}\n',
                     "to must be an email address", id="address with a trailing newline"),
        pytest.param("channels:\n  - {name: m, kind: email, host: smtp.example.com, from: a@b.c, to: x@y.z, "
                     "starttls: false, username_env: U, password_env: P}\n", "in clear", id="password without tls"),
        pytest.param("channels:\n  - {name: m, kind: email, host: h, port: 99999, from: a@b.c, to: x@y.z}\n",
                     "port must be", id="bad port"),
        pytest.param("channels:\n  - {name: m, kind: email, host: h, from: a@b.c, to: x@y.z, ca_file: /nope.pem}\n",
                     "ca_file '/nope.pem' is not a readable file", id="missing ca file"),
    ],
)
def test_a_bad_file_is_one_line_naming_the_file(tmp_path, text, fragment):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as error:
        load_channels(path)
    message = str(error.value)
    assert fragment in message and str(path) in message and "\n" not in message and "pw0canary" not in message


def test_a_route_to_a_tenant_that_is_not_configured_is_refused_naming_the_configured_ones(tmp_path):
    """A typo there routed nothing, silently."""
    path = write(tmp_path, MINIMAL + "    tenants: [globexx]\n")
    with pytest.raises(ConfigError) as error:
        load_channels(path, tenants=["acme", "globex"])
    message = str(error.value)
    assert str(path) in message and "channel 'ops'" in message
    assert "globexx is not configured; configured tenants: acme, globex" in message
    assert load_channels(write(tmp_path, MINIMAL + "    tenants: [globex]\n"), tenants=["acme", "globex"])


def test_a_missing_file_says_so(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_channels(tmp_path / "nope.yaml")


def test_secrets_come_from_the_environment_and_never_show_in_a_repr(tmp_path):
    channel = load_channels(write(tmp_path, MINIMAL))[0]
    secrets = resolve_secrets(channel, {"AURION_WEBHOOK_SECRET": "canary-7f3a"})
    assert secrets["secret"] == "canary-7f3a" and isinstance(secrets["secret"], Secret)
    assert "canary" not in repr(secrets)
    with pytest.raises(ConfigError, match=r"AURION_WEBHOOK_SECRET .* is not set"):
        resolve_secrets(channel, {})


def test_the_cli_exits_2_with_one_line_for_a_bad_file(tmp_path):
    path = write(tmp_path, "channels: [")
    env = {"AURION_ALERTS_FILE": str(path), "AURION_DATA_DIR": str(tmp_path / "data"), "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-m", "aurion_pipeline.cli", "alerts"], env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0] and "not readable YAML" in lines[0]


@pytest.mark.parametrize(
    "key, value",
    [
        pytest.param("secret_env", "ak_live_0123456789abcdefghij", id="an Aurion-shaped key as secret_env"),
        pytest.param("secret_env", "whsec_9f8e7d6c5b4a39281706f5e4", id="a long random token as secret_env"),
        pytest.param("url_env", "sk_0123456789abcdef", id="a secret-prefixed token as slack url_env"),
    ],
)
def test_a_secret_pasted_where_a_variable_name_belongs_is_refused_without_being_shown(tmp_path, key, value):
    """The value has a variable name's shape, so a shape check alone accepted it and the unset-variable
    message then repeated it; the check the tenants file uses refuses it."""
    text = (f"channels:\n  - {{name: s, kind: slack, url_env: {value}}}\n" if key == "url_env"
            else MINIMAL.replace("AURION_WEBHOOK_SECRET", value))
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as error:
        load_channels(path)
    message = str(error.value)
    assert "value not shown" in message and str(path) in message
    assert value not in message and value[:8] not in message


def test_a_slack_url_that_is_not_a_url_is_refused_before_sending_without_being_shown(tmp_path):
    (channel,) = load_channels(write(tmp_path, "channels:\n  - {name: team, kind: slack, url_env: SLACK_URL}\n"))
    with pytest.raises(ConfigError) as error:
        resolve_secrets(channel, {"SLACK_URL": "https://hooks.slack.com:99999/services/canarypath"})
    assert "SLACK_URL" in str(error.value) and "canarypath" not in str(error.value)


def test_a_url_requests_cannot_use_is_given_up_not_retried_for_hours():
    from aurion_pipeline.alerts.channels import Channel
    from aurion_pipeline.alerts.senders import send

    channel = Channel("ops", "webhook", Route(), url="http://localhost:99999/")  # built past the file's check
    outcome = send(channel, {"secret": Secret("s")}, {"idempotency_key": "aurion-test-1"})
    assert outcome.status == "gave_up" and "99999" not in outcome.error
