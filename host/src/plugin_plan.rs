//! Which plugins a configuration runs, and why: every built-in plugin unless a `[[plugins]]`
//! entry disables it (`enabled = false`) or `[builtin_plugins] enabled = false` leaves out the
//! unlisted ones; `[[plugins]] name = "…"` entries configure a built-in (limits, settings);
//! `[[plugins]] path = "…"` entries add a `.wasm` plugin beside them. Each planned plugin has
//! its grants: its entry's `allow_to`, else a built-in's default (which follows its settings)
//! or, for a file, the customer only. Pure: nothing is loaded here, so `serve` logs the plan and
//! `plugin list` prints it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::builtin::{self, Builtin};
use crate::config::{Config, ConfigError, Origin, PluginConfig, PluginSource};
use crate::model::Recipient;
use crate::model::grants::{Grant, Grants};
use crate::runtime::Limits;

/// Where a planned plugin's component comes from.
#[derive(Debug, Clone)]
pub enum PlannedSource {
    /// Embedded in the binary.
    Builtin(&'static Builtin),
    /// A `.wasm` file.
    File(PathBuf),
}

/// One plugin the configuration names or implies, with whether it runs and why.
#[derive(Debug, Clone)]
pub struct PlannedPlugin {
    /// The built-in's name, or the file's path as written.
    pub name: String,
    /// Where its component comes from.
    pub source: PlannedSource,
    /// Whether it runs.
    pub enabled: bool,
    /// Why it runs or not, e.g. `built-in, on by default`.
    pub why: String,
    /// The `[[plugins]]` key that configures it (`plugins[2]`), if one does.
    pub key: Option<String>,
    /// Its CPU deadline and memory cap.
    pub limits: Limits,
    /// Its `[plugins.settings]`.
    pub settings: BTreeMap<String, String>,
    /// The recipients it may address.
    pub grants: Grants,
    /// Whether `grants` is a default (no `allow_to` in its entry).
    pub default_grants: bool,
}

/// The plugins `config` implies: built-ins in name order, then `.wasm` files in file order.
/// An entry naming no built-in is an error naming the file and key.
pub fn plan(config: &Config) -> Result<Vec<PlannedPlugin>, ConfigError> {
    let entry_limits = |e: &PluginConfig| Limits {
        deadline: Duration::from_millis(e.deadline_ms),
        memory_bytes: (e.memory_mib as usize) << 20,
    };
    let mut by_name = BTreeMap::new();
    for (i, entry) in config.plugins.iter().enumerate() {
        if let PluginSource::Builtin(name) = &entry.source {
            if builtin::find(name).is_none() {
                let known: Vec<_> = builtin::all().iter().map(|b| b.name).collect();
                return Err(ConfigError::Invalid {
                    origin: Origin::File { path: config.file.clone(), position: None },
                    key: format!("plugins[{i}].name"),
                    message: format!("{name:?} is not a built-in plugin (known: {}; a .wasm file is `path = \"…\"`)", known.join(", ")),
                });
            }
            by_name.insert(name.as_str(), (i, entry));
        }
    }
    let region = config.twilio.default_region.as_str();
    let people: Vec<Recipient> = config.qad.iter().flat_map(|q| q.people.values().cloned()).collect();
    let grants = |entry: Option<&PluginConfig>, default: Vec<Grant>| match entry.and_then(|e| e.allow_to.clone()) {
        Some(allow_to) => (Grants::new(allow_to, region), false),
        None => (Grants::new(default, region), true),
    };
    let mut planned = Vec::new();
    for b in builtin::all() {
        let (enabled, why, key, limits, settings) = match by_name.get(b.name) {
            Some((i, entry)) if entry.enabled => {
                (true, format!("built-in, configured by plugins[{i}]"), Some(format!("plugins[{i}]")), entry_limits(entry), entry.settings.clone())
            }
            Some((i, entry)) => (false, format!("built-in, disabled by plugins[{i}] (enabled = false)"), Some(format!("plugins[{i}]")), entry_limits(entry), entry.settings.clone()),
            None if config.builtin_plugins.enabled => (true, "built-in, on by default".to_owned(), None, Limits::default(), BTreeMap::new()),
            None => (false, "built-in, off: [builtin_plugins] enabled = false and not listed in [[plugins]]".to_owned(), None, Limits::default(), BTreeMap::new()),
        };
        let entry = by_name.get(b.name).map(|(_, entry)| *entry);
        let default = builtin::default_grants(b.name, &settings, &people, region).unwrap_or_else(|| vec![Grant::Customer]);
        let (grants, default_grants) = grants(entry, default);
        planned.push(PlannedPlugin { name: b.name.to_owned(), source: PlannedSource::Builtin(b), enabled, why, key, limits, settings, grants, default_grants });
    }
    for (i, entry) in config.plugins.iter().enumerate() {
        if let PluginSource::File(path) = &entry.source {
            let why = if entry.enabled { format!("file, listed in plugins[{i}]") } else { format!("file, disabled by plugins[{i}] (enabled = false)") };
            let (grants, default_grants) = grants(Some(entry), vec![Grant::Customer]);
            planned.push(PlannedPlugin {
                name: path.display().to_string(),
                source: PlannedSource::File(path.clone()),
                enabled: entry.enabled,
                why,
                key: Some(format!("plugins[{i}]")),
                limits: entry_limits(entry),
                settings: entry.settings.clone(),
                grants,
                default_grants,
            });
        }
    }
    Ok(planned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> Config {
        let mut config: Config = toml::from_str(text).unwrap();
        config.file = PathBuf::from("site/ml-connector.toml");
        config
    }

    fn running(plan: &[PlannedPlugin]) -> Vec<&str> {
        plan.iter().filter(|p| p.enabled).map(|p| p.name.as_str()).collect()
    }

    fn all_builtins() -> Vec<&'static str> {
        builtin::all().iter().map(|b| b.name).collect()
    }

    #[test]
    fn with_no_entries_every_built_in_runs_by_default() {
        let plan = plan(&config("")).unwrap();
        assert_eq!(running(&plan), all_builtins());
        assert!(plan.iter().all(|p| p.why == "built-in, on by default" && p.limits == Limits::default()));
    }

    #[test]
    fn a_custom_plugin_runs_beside_every_built_in() {
        let plan = plan(&config("[[plugins]]\npath = \"my.wasm\"\ndeadline_ms = 80\n")).unwrap();
        let mut expected = all_builtins();
        expected.push("my.wasm");
        assert_eq!(running(&plan), expected);
        let custom = plan.last().unwrap();
        assert_eq!((custom.why.as_str(), custom.key.as_deref()), ("file, listed in plugins[0]", Some("plugins[0]")));
        assert_eq!(custom.limits.deadline, Duration::from_millis(80));
    }

    #[test]
    fn an_entry_disables_or_configures_one_built_in_and_leaves_the_others_on() {
        let text = "[[plugins]]\nname = \"invoice-paid\"\nenabled = false\n\n[[plugins]]\nname = \"invoice-sent\"\nmemory_mib = 32\n[plugins.settings]\nlead_days = \"5\"\n";
        let plan = plan(&config(text)).unwrap();
        let paid = plan.iter().find(|p| p.name == "invoice-paid").unwrap();
        assert_eq!((paid.enabled, paid.why.as_str()), (false, "built-in, disabled by plugins[0] (enabled = false)"));
        let sent = plan.iter().find(|p| p.name == "invoice-sent").unwrap();
        assert_eq!((sent.enabled, sent.why.as_str()), (true, "built-in, configured by plugins[1]"));
        assert_eq!((sent.limits.memory_bytes, sent.settings["lead_days"].as_str()), (32 << 20, "5"));
        let expected: Vec<_> = all_builtins().into_iter().filter(|n| *n != "invoice-paid").collect();
        assert_eq!(running(&plan), expected);
    }

    #[test]
    fn the_switch_leaves_out_the_built_ins_that_are_not_listed() {
        let text = "[builtin_plugins]\nenabled = false\n\n[[plugins]]\nname = \"invoice-overdue\"\n\n[[plugins]]\npath = \"my.wasm\"\n";
        let plan = plan(&config(text)).unwrap();
        assert_eq!(running(&plan), ["invoice-overdue", "my.wasm"]);
        let off = plan.iter().find(|p| p.name == "invoice-paid").unwrap();
        assert!(off.why.contains("[builtin_plugins] enabled = false"), "{}", off.why);
    }

    fn grants_of(plan: &[PlannedPlugin], name: &str) -> (String, bool) {
        let p = plan.iter().find(|p| p.name == name).unwrap();
        (p.grants.to_string(), p.default_grants)
    }

    #[test]
    fn grants_come_from_allow_to_else_from_the_defaults_which_follow_the_settings() {
        let text = "[[plugins]]\nname = \"invoice-overdue\"\nsettings = { team_contact = \"collections\" }\n\n\
                    [[plugins]]\nname = \"estimate-notices\"\nallow_to = [\"customer\"]\n\n\
                    [[plugins]]\npath = \"my.wasm\"\n\n[[plugins]]\npath = \"other.wasm\"\nallow_to = [\"team:*\", \"number:+15555550100\"]\n";
        let plan = plan(&config(text)).unwrap();
        assert_eq!(grants_of(&plan, "invoice-overdue"), ("[\"customer\", \"team:collections\"]".into(), true));
        assert_eq!(grants_of(&plan, "estimate-notices"), ("[\"customer\"]".into(), false));
        assert_eq!(grants_of(&plan, "invoice-paid"), ("[\"customer\"]".into(), true));
        assert_eq!(grants_of(&plan, "qad-receipts"), ("[\"team:ap\"]".into(), true));
        assert_eq!(grants_of(&plan, "my.wasm"), ("[\"customer\"]".into(), true), "a file without allow_to: the customer only");
        assert_eq!(grants_of(&plan, "other.wasm"), ("[\"team:*\", \"number:+15555550100\"]".into(), false));
    }

    #[test]
    fn an_unknown_built_in_name_is_an_error_naming_the_file_and_key() {
        let err = plan(&config("[[plugins]]\npath = \"a.wasm\"\n\n[[plugins]]\nname = \"invoice-remind\"\n")).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("site/ml-connector.toml: `plugins[1].name`: \"invoice-remind\" is not a built-in plugin (known: "), "{text}");
    }
}
