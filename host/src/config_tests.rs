//! Tests of configuration loading: defaults, the full file, overrides and error messages.

use std::collections::HashMap;

use super::*;
use chrono::NaiveTime;

const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
const SERVICE_SID: &str = "MG0123456789abcdef0123456789abcdef";

const FULL: &str = r#"
[server]
listen = "0.0.0.0:9000"
public_url = "https://hooks.example.com"
max_body_bytes = 65536
request_timeout_ms = 5000
max_header_bytes = 8192
ingest_queue = 1024

[store]
path = "/var/lib/ml-connector/db.sqlite"
cache_dir = "/var/cache/ml-connector"
lease_secs = 45
run_retention_days = 7
max_size_mib = 512
url = "postgres://connector@db.example.com:5432/connector"

[secrets]
master_key_file = "/etc/ml-connector/master.key"

[wave]
business_id = "63c77f29-875c-4cdc-947d-07430f628043"
client_id = "client-abc"
graphql_url = "http://127.0.0.1:4000/graphql"
token_url = "http://127.0.0.1:4000/oauth2/token/"
authorize_url = "http://127.0.0.1:4000/oauth2/authorize/"
signature_tolerance_secs = 120
reconcile_interval_secs = 900

[twilio]
account_sid = "AC0123456789abcdef0123456789abcdef"
messaging_service_sid = "MG0123456789abcdef0123456789abcdef"
api_base = "http://127.0.0.1:4010"
lookups_base = "http://127.0.0.1:4011"
default_region = "CA"
messages_per_second = 3
mode = "live"
quiet_hours = "21:00-08:00"
timezone = "-05:00"
request_timeout_ms = 5000
max_retries = 2
retry_base_ms = 250
call_callback_wait_ms = 30000

[team]
billing = "+15555550100"
owner = "+15555550101"

[builtin_plugins]
enabled = false

[console]
enabled = true

[[plugins]]
name = "invoice-reminders"
deadline_ms = 80
memory_mib = 32
[plugins.settings]
greeting = "Hi"
days_before = 3
voice = true
ratio = 1.5

[[plugins]]
path = "plugins/custom.wasm"
enabled = false
"#;

/// A file in a fresh temporary directory.
fn write(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ml-connector.toml");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| vars.get(name).cloned()
}

fn no_env(_: &str) -> Option<String> {
    None
}

fn load_text(text: &str, vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let (_dir, path) = write(text);
    Config::load(Some(&path), &env_of(vars))
}

/// `(origin, key, message)` of an `Invalid` error.
fn invalid(err: ConfigError) -> (Origin, String, String) {
    match err {
        ConfigError::Invalid {
            origin,
            key,
            message,
        } => (origin, key, message),
        other => panic!("expected an invalid-value error, got {other}"),
    }
}

#[test]
fn a_missing_default_file_means_all_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::load_file(&dir.path().join(DEFAULT_PATH), false, &no_env).unwrap();
    assert_eq!(config.file, dir.path().join(DEFAULT_PATH));
    assert_eq!(config, Config { file: dir.path().join(DEFAULT_PATH), ..Config::default() });
    assert!(config.builtin_plugins.enabled);
    assert_eq!(config.server.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(config.server.resolved_public_url(), "http://127.0.0.1:8080");
    assert_eq!(config.server.max_body_bytes, 262_144);
    assert_eq!(config.store.path, PathBuf::from("ml-connector.db"));
    assert_eq!(
        config.store.resolved_cache_dir(),
        PathBuf::from("ml-connector.db.cache")
    );
    assert_eq!(
        config.wave.graphql_url,
        "https://gql.waveapps.com/graphql/public"
    );
    assert_eq!(
        config.wave.token_url,
        "https://api.waveapps.com/oauth2/token/"
    );
    assert_eq!(
        config.wave.authorize_url,
        "https://api.waveapps.com/oauth2/authorize/"
    );
    assert_eq!(config.wave.signature_tolerance_secs, 300);
    assert_eq!(config.wave.reconcile_interval_secs, None);
    assert_eq!(config.twilio.api_base, "https://api.twilio.com");
    assert_eq!(config.twilio.lookups_base, "https://lookups.twilio.com");
    assert_eq!(config.twilio.default_region, "US");
    assert_eq!(config.twilio.messages_per_second, 1);
    assert_eq!(config.twilio.mode, TwilioMode::DryRun);
    assert!(config.team.is_empty());
    assert!(config.plugins.is_empty());
}

#[test]
fn a_missing_explicit_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent.toml");
    let err = Config::load(Some(&path), &no_env).unwrap_err();
    assert!(matches!(err, ConfigError::Read { .. }));
    assert!(err.to_string().contains("absent.toml"), "{err}");
}

#[test]
fn an_empty_file_means_all_defaults() {
    assert_eq!(load_text("", &[]).unwrap().plugins, Config::default().plugins);
}

#[test]
fn the_full_example_file_loads() {
    let config = load_text(FULL, &[]).unwrap();
    assert_eq!(config.server.listen.to_string(), "0.0.0.0:9000");
    assert_eq!(
        config.server.resolved_public_url(),
        "https://hooks.example.com"
    );
    assert_eq!(config.server.max_body_bytes, 65_536);
    assert_eq!((config.server.request_timeout_ms, config.server.max_header_bytes, config.server.ingest_queue), (5000, 8192, 1024));
    assert_eq!(
        config.store.resolved_cache_dir(),
        PathBuf::from("/var/cache/ml-connector")
    );
    assert_eq!(config.store.max_size_mib, Some(512));
    assert_eq!(
        config.secrets.master_key_file,
        Some(PathBuf::from("/etc/ml-connector/master.key"))
    );
    assert_eq!(
        config.wave.business_id.as_deref(),
        Some("63c77f29-875c-4cdc-947d-07430f628043")
    );
    assert_eq!(config.wave.client_id.as_deref(), Some("client-abc"));
    assert_eq!(config.wave.signature_tolerance_secs, 120);
    assert_eq!(config.wave.reconcile_interval_secs, Some(900));
    let twilio = &config.twilio;
    assert_eq!(twilio.account_sid.as_deref(), Some(ACCOUNT_SID));
    assert_eq!(twilio.messaging_service_sid.as_deref(), Some(SERVICE_SID));
    assert_eq!(twilio.from, None);
    assert_eq!(twilio.default_region, "CA");
    assert_eq!(twilio.messages_per_second, 3);
    assert_eq!(twilio.mode, TwilioMode::Live);
    let quiet = twilio.quiet_hours.unwrap();
    assert_eq!(
        (quiet.start, quiet.end),
        (
            NaiveTime::from_hms_opt(21, 0, 0).unwrap(),
            NaiveTime::from_hms_opt(8, 0, 0).unwrap()
        )
    );
    let timezone = twilio.timezone.as_ref().unwrap();
    assert_eq!(timezone.as_str(), "-05:00");
    assert_eq!(timezone.rfc3339(chrono::DateTime::UNIX_EPOCH), "1969-12-31T19:00:00-05:00");
    assert_eq!(config.team["billing"], "+15555550100");
    assert_eq!(config.plugins.len(), 2);
    let first = &config.plugins[0];
    assert_eq!(
        first.source,
        PluginSource::Builtin("invoice-reminders".into())
    );
    assert_eq!(
        (first.enabled, first.deadline_ms, first.memory_mib),
        (true, 80, 32)
    );
    let settings: Vec<_> = first
        .settings
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        settings,
        [
            ("days_before", "3"),
            ("greeting", "Hi"),
            ("ratio", "1.5"),
            ("voice", "true")
        ]
    );
    let second = &config.plugins[1];
    assert_eq!(
        second.source,
        PluginSource::File("plugins/custom.wasm".into())
    );
    assert_eq!(
        (second.enabled, second.deadline_ms, second.memory_mib),
        (false, 50, 16)
    );
}

#[test]
fn every_scalar_key_of_the_full_example_has_an_override() {
    let table: toml::Table = toml::from_str(FULL).unwrap();
    for (section, value) in &table {
        if section == "team" || section == "plugins" {
            continue;
        }
        for key in value.as_table().unwrap().keys() {
            assert!(
                ENV_KEYS.iter().any(|(s, k, _)| s == section && k == key),
                "{section}.{key} has no override"
            );
        }
    }
    let overridable: usize = table
        .iter()
        .filter(|(s, _)| *s != "team" && *s != "plugins")
        .map(|(_, v)| v.as_table().unwrap().len())
        .sum();
    // `twilio.from` is left out of FULL because it excludes `messaging_service_sid`.
    assert_eq!(overridable + 1, ENV_KEYS.len());
}

#[test]
fn an_unknown_key_names_the_file_line_and_dotted_key() {
    let err = load_text(
        "[twilio]\nmode = \"dry-run\"\nmesages_per_second = 2\n",
        &[],
    )
    .unwrap_err();
    let text = err.to_string();
    let (origin, key, message) = invalid(err);
    assert_eq!(key, "twilio.mesages_per_second");
    assert!(message.contains("unknown field"), "{message}");
    match origin {
        Origin::File { path, position } => {
            assert!(path.ends_with("ml-connector.toml"));
            assert_eq!(position.map(|(line, _)| line), Some(3));
        }
        other => panic!("{other:?}"),
    }
    assert!(text.contains("ml-connector.toml:3:"), "{text}");
    assert!(text.contains("twilio.mesages_per_second"), "{text}");
}

#[test]
fn an_unknown_section_or_plugin_key_is_an_error() {
    let (_, key, _) = invalid(load_text("[twillio]\nmode = \"live\"\n", &[]).unwrap_err());
    assert_eq!(key, "twillio");
    let (_, key, _) =
        invalid(load_text("[[plugins]]\nname = \"a\"\ndeadline = 5\n", &[]).unwrap_err());
    assert_eq!(key, "plugins[0].deadline");
}

#[test]
fn a_wrongly_typed_value_names_its_key_and_line() {
    let err = load_text(
        "[server]\nlisten = \"127.0.0.1:8080\"\nmax_body_bytes = \"big\"\n",
        &[],
    )
    .unwrap_err();
    let (origin, key, _) = invalid(err);
    assert_eq!(key, "server.max_body_bytes");
    assert!(
        matches!(
            origin,
            Origin::File {
                position: Some((3, _)),
                ..
            }
        ),
        "{origin:?}"
    );
}

#[test]
fn a_syntax_error_names_the_file_and_line() {
    let err = load_text("[server]\nlisten = \n", &[]).unwrap_err();
    assert!(
        matches!(err, ConfigError::Syntax { line: 2, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("ml-connector.toml:2:"), "{err}");
}

#[test]
fn environment_variables_override_the_file() {
    let text = "[twilio]\nmessages_per_second = 5\n[server]\nlisten = \"127.0.0.1:1\"\n";
    let config = load_text(
        text,
        &[
            ("ML_CONNECTOR_TWILIO_MESSAGES_PER_SECOND", "7"),
            ("ML_CONNECTOR_WAVE_RECONCILE_INTERVAL_SECS", "60"),
            ("ML_CONNECTOR_STORE_PATH", "/data/x.db"),
            ("ML_CONNECTOR_TWILIO_MODE", "live"),
            ("ML_CONNECTOR_TWILIO_ACCOUNT_SID", ACCOUNT_SID),
            ("ML_CONNECTOR_TWILIO_FROM", "+15555550199"),
            ("ML_CONNECTOR_SERVER_PUBLIC_URL", ""),
        ],
    )
    .unwrap();
    assert_eq!(config.twilio.messages_per_second, 7);
    assert_eq!(config.wave.reconcile_interval_secs, Some(60));
    assert_eq!(
        config.store.resolved_cache_dir(),
        PathBuf::from("/data/x.db.cache")
    );
    assert_eq!(config.twilio.mode, TwilioMode::Live);
    assert_eq!(config.twilio.from.as_deref(), Some("+15555550199"));
    // Untouched file values stay, and an empty variable counts as unset.
    assert_eq!(config.server.listen.to_string(), "127.0.0.1:1");
    assert_eq!(config.server.public_url, None);
}

#[test]
fn a_bad_environment_value_names_the_variable() {
    for (var, value, key) in [
        (
            "ML_CONNECTOR_TWILIO_MESSAGES_PER_SECOND",
            "fast",
            "twilio.messages_per_second",
        ),
        (
            "ML_CONNECTOR_TWILIO_MESSAGES_PER_SECOND",
            "0",
            "twilio.messages_per_second",
        ),
        (
            "ML_CONNECTOR_SERVER_MAX_BODY_BYTES",
            "-1",
            "server.max_body_bytes",
        ),
        ("ML_CONNECTOR_TWILIO_MODE", "sometimes", "twilio.mode"),
        ("ML_CONNECTOR_SERVER_LISTEN", "localhost", "server.listen"),
        (
            "ML_CONNECTOR_TWILIO_QUIET_HOURS",
            "9pm-8am",
            "twilio.quiet_hours",
        ),
    ] {
        let err = load_text(FULL, &[(var, value)]).unwrap_err();
        let text = err.to_string();
        let (origin, found_key, _) = invalid(err);
        assert_eq!(origin, Origin::Env { var: var.into() }, "{text}");
        assert_eq!(found_key, key);
        assert!(text.contains(var), "{text}");
    }
}

#[test]
fn a_plugin_with_both_name_and_path_is_rejected() {
    let err = load_text("[[plugins]]\nname = \"a\"\npath = \"a.wasm\"\n", &[]).unwrap_err();
    let (origin, key, message) = invalid(err);
    assert_eq!(key, "plugins[0]");
    assert!(message.contains("not both"), "{message}");
    assert!(
        matches!(
            origin,
            Origin::File {
                position: Some((1, _)),
                ..
            }
        ),
        "{origin:?}"
    );
    let (_, key, _) = invalid(load_text("[[plugins]]\nenabled = false\n", &[]).unwrap_err());
    assert_eq!(key, "plugins[0]");
}

#[test]
fn a_plugin_listed_twice_is_rejected() {
    let err = load_text(
        "[[plugins]]\nname = \"a\"\n[[plugins]]\nname = \"a\"\n",
        &[],
    )
    .unwrap_err();
    assert_eq!(invalid(err).1, "plugins[1].name");
}

#[test]
fn live_mode_needs_an_account_and_exactly_one_sender() {
    let live = |extra: &str| load_text(&format!("[twilio]\nmode = \"live\"\n{extra}"), &[]);
    let account = format!("account_sid = \"{ACCOUNT_SID}\"\n");
    let from = "from = \"+15555550100\"\n";
    let service = format!("messaging_service_sid = \"{SERVICE_SID}\"\n");
    assert!(live(&format!("{account}{from}")).is_ok());
    assert!(live(&format!("{account}{service}")).is_ok());
    for bad in [
        from.to_string(),
        account.clone(),
        format!("{account}{from}{service}"),
    ] {
        let (_, key, _) = invalid(live(&bad).unwrap_err());
        assert_eq!(key, "twilio.mode");
    }
    // Dry-run accepts an incomplete Twilio section.
    assert!(load_text(&format!("[twilio]\n{from}{service}"), &[]).is_ok());
    let err = load_text(
        &format!("[twilio]\n{from}"),
        &[("ML_CONNECTOR_TWILIO_MODE", "live")],
    );
    let (origin, _, _) = invalid(err.unwrap_err());
    assert_eq!(
        origin,
        Origin::Env {
            var: "ML_CONNECTOR_TWILIO_MODE".into()
        }
    );
}

#[test]
fn sids_regions_and_urls_are_checked() {
    for (text, key) in [
        ("[twilio]\naccount_sid = \"AC123\"", "twilio.account_sid"),
        (
            "[twilio]\naccount_sid = \"MG0123456789abcdef0123456789abcdef\"",
            "twilio.account_sid",
        ),
        (
            "[twilio]\nmessaging_service_sid = \"MG0123456789abcdef0123456789abcdeg\"",
            "twilio.messaging_service_sid",
        ),
        (
            "[twilio]\ndefault_region = \"usa\"",
            "twilio.default_region",
        ),
        ("[twilio]\nfrom = \" \"", "twilio.from"),
        ("[twilio]\napi_base = \"api.twilio.com\"", "twilio.api_base"),
        ("[server]\npublic_url = \"ftp://x\"", "server.public_url"),
        (
            "[wave]\nsignature_tolerance_secs = 0",
            "wave.signature_tolerance_secs",
        ),
        (
            "[wave]\nreconcile_interval_secs = 0",
            "wave.reconcile_interval_secs",
        ),
        ("[team]\nbilling = \"\"", "team.billing"),
        (
            "[[plugins]]\nname = \"a\"\nmemory_mib = 0",
            "plugins[0].memory_mib",
        ),
        (
            "[[plugins]]\nname = \"a\"\n[plugins.settings]\nlist = [1]",
            "plugins[0].settings.list",
        ),
    ] {
        let (_, found, message) = invalid(load_text(text, &[]).unwrap_err());
        assert_eq!(found, key, "{text}: {message}");
    }
}

#[test]
fn quiet_hours_and_timezones_parse_strictly() {
    let quiet = |s: &str| QuietHours::try_from(s.to_string());
    assert!(quiet("21:00-08:00").is_ok());
    assert!(quiet("08:30-17:45").is_ok());
    for bad in [
        "",
        "21:00",
        "21-08",
        "24:00-08:00",
        "21:00-08:60",
        "9:00-17:00",
        "08:00-08:00",
        // Found by the property tests (tests/properties.rs): signs inside the digits.
        "+0:00-00:01",
        "08:+5-17:00",
    ] {
        assert!(quiet(bad).is_err(), "{bad}");
    }
    let local = |s: &str| Timezone::try_from(s.to_string()).map(|t| t.rfc3339(chrono::DateTime::UNIX_EPOCH));
    assert_eq!(local("UTC").as_deref(), Ok("1970-01-01T00:00:00+00:00"));
    assert_eq!(local("+05:30").as_deref(), Ok("1970-01-01T05:30:00+05:30"));
    assert_eq!(local("-12:00").as_deref(), Ok("1969-12-31T12:00:00-12:00"));
    assert_eq!(local("America/New_York").as_deref(), Ok("1969-12-31T19:00:00-05:00"));
    for bad in ["", "05:00", "+5:00", "+15:00", "America/Gotham", "+05:00x", "++0:00", "-+5:00", "+05:+0"] {
        assert!(local(bad).is_err(), "{bad}");
    }
}

#[test]
fn a_mistyped_ml_connector_variable_is_refused_with_the_closest_name() {
    let err = check_variable_names(["PATH".into(), "ML_CONNECTOR_TWILIO_MOD".into()]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "environment variable ML_CONNECTOR_TWILIO_MOD is not a configuration key (see README, Configuration); \
         did you mean ML_CONNECTOR_TWILIO_MODE?"
    );
    let err = check_variable_names(["ML_CONNECTOR_SOMETHING_ELSE_ENTIRELY".into()]).unwrap_err();
    assert!(!err.to_string().contains("did you mean"), "{err}");
}

#[test]
fn every_override_and_the_other_ml_connector_variables_are_accepted() {
    let names = ENV_KEYS.iter().map(|(section, key, _)| env_var(section, key)).chain(
        [
            "ML_CONNECTOR_MASTER_KEY",
            "ML_CONNECTOR_LOG",
            "ML_CONNECTOR_LOG_FORMAT",
            "ML_CONNECTOR_STORE_URL",
            "ML_CONNECTOR_WASM_DIR",
            "ML_CONNECTOR_TEST_LEAK",
            "HOME",
        ]
        .map(String::from),
    );
    check_variable_names(names).unwrap();
}

#[test]
fn builtin_plugins_can_be_switched_off_in_the_file_or_by_a_boolean_variable() {
    assert!(!load_text("[builtin_plugins]\nenabled = false\n", &[]).unwrap().builtin_plugins.enabled);
    let config = load_text("", &[("ML_CONNECTOR_BUILTIN_PLUGINS_ENABLED", "false")]).unwrap();
    assert!(!config.builtin_plugins.enabled);
    let err = load_text("", &[("ML_CONNECTOR_BUILTIN_PLUGINS_ENABLED", "no")]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "environment variable ML_CONNECTOR_BUILTIN_PLUGINS_ENABLED: `builtin_plugins.enabled`: expected true or false, found \"no\""
    );
}

#[test]
fn allow_to_lists_grants_and_is_unset_by_default() {
    use crate::model::grants::Grant;
    let text = "[[plugins]]\nname = \"a\"\nallow_to = [\"customer\", \"team:accounting\", \"team:*\", \"number:+15555550100\", \"number:*\"]\n\n[[plugins]]\nname = \"b\"\n";
    let config = load_text(text, &[]).unwrap();
    assert_eq!(
        config.plugins[0].allow_to.as_deref(),
        Some(&[Grant::Customer, Grant::Team("accounting".into()), Grant::AnyTeam, Grant::Number("+15555550100".into()), Grant::AnyNumber][..])
    );
    assert_eq!(config.plugins[1].allow_to, None);
    assert_eq!(load_text("[[plugins]]\nname = \"a\"\nallow_to = []\n", &[]).unwrap().plugins[0].allow_to, Some(vec![]));
    assert_eq!(config.installed_plugins.allow_to, [Grant::Customer]);
    let installed = load_text("[installed_plugins]\nallow_to = [\"team:audit\"]\n", &[]).unwrap();
    assert_eq!(installed.installed_plugins.allow_to, [Grant::Team("audit".into())]);
}

#[test]
fn an_unknown_grant_names_the_entry_line_and_grammar() {
    let err = load_text("[[plugins]]\nname = \"a\"\n\n[[plugins]]\nname = \"b\"\nallow_to = [\"customer\", \"team-sales\"]\n", &[]).unwrap_err();
    let text = err.to_string();
    let (origin, key, message) = invalid(err);
    assert_eq!(key, "plugins[1].allow_to[1]");
    assert!(message.starts_with("\"team-sales\" is not a grant: a grant is \"customer\", \"team:NAME\""), "{message}");
    assert!(matches!(origin, Origin::File { position: Some((6, _)), .. }), "{text}");
    let (_, key, message) = invalid(load_text("[installed_plugins]\nallow_to = [\"number:5555550100\"]\n", &[]).unwrap_err());
    assert_eq!(key, "installed_plugins.allow_to[0]");
    assert!(message.contains("E.164"), "{message}");
}

#[test]
fn allow_to_survives_the_override_path() {
    use crate::model::grants::Grant;
    // With a variable set, the file's table is deserialized again with the override applied.
    let text = "[[plugins]]\nname = \"b\"\nallow_to = [\"team:ops\", \"number:+1 555 555 0100\"]\n[installed_plugins]\nallow_to = [\"team:*\"]\n";
    let config = load_text(text, &[("ML_CONNECTOR_TWILIO_MODE", "dry-run")]).unwrap();
    assert_eq!(config.plugins[0].allow_to, Some(vec![Grant::Team("ops".into()), Grant::Number("+15555550100".into())]));
    assert_eq!(config.installed_plugins.allow_to, [Grant::AnyTeam]);
}
