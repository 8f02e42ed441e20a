//! The default plugins, compiled to wasm by `build.rs` and embedded in the binary, and what
//! each may address unless configured otherwise.

use std::collections::BTreeMap;

use crate::model::Recipient;
use crate::model::grants::Grant;

/// A default plugin shipped inside the `ml-connector` binary.
#[derive(Debug, Clone, Copy)]
pub struct Builtin {
    /// The plugin's name, as configured in `[[plugins]] name = "…"`.
    pub name: &'static str,
    /// The component's bytes (`wasm32-wasip2`).
    pub wasm: &'static [u8],
}

include!(concat!(env!("OUT_DIR"), "/builtin_plugins.rs"));

/// Every default plugin, in name order.
pub fn all() -> &'static [Builtin] {
    BUILTINS
}

/// The default plugin called `name`, if there is one.
pub fn find(name: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.name == name)
}

/// What the built-in `name` may address when its `[[plugins]]` entry sets no `allow_to`:
/// exactly the recipients it can name with `settings` (a changed `team_contact` moves the
/// grant with it), and for the QAD plugins that message the person responsible, `people` (every
/// `[[qad]]` tenant's `people` map), numbers read in `default_region`. `None` for a name that is
/// not a built-in.
pub fn default_grants(name: &str, settings: &BTreeMap<String, String>, people: &[Recipient], default_region: &str) -> Option<Vec<Grant>> {
    // The plugin reads the setting as `get_or(key, default)` and skips an empty team name
    // (invoice-overdue and estimate-notices trim it first).
    let team = |key: &str, default: &str, trim: bool| {
        let name = settings.get(key).map_or(default.to_owned(), |v| if trim { v.trim().to_owned() } else { v.clone() });
        (!name.is_empty()).then_some(Grant::Team(name))
    };
    let people: Vec<Grant> = people.iter().filter_map(|p| Grant::exactly(p, default_region)).collect();
    let grants = match name {
        "customer-welcome" | "invoice-paid" | "invoice-sent" => vec![Grant::Customer],
        "invoice-overdue" | "estimate-notices" => [Grant::Customer].into_iter().chain(team("team_contact", "accounting", true)).collect(),
        "qad-invoice-alerts" => team("fallback_contact", "ap", false).into_iter().chain(people).collect(),
        "qad-po-approvals" => team("fallback_contact", "purchasing", false).into_iter().chain(people).collect(),
        "qad-receipts" => team("ap_contact", "ap", false).into_iter().collect(),
        _ => return None,
    };
    Some(grants)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grants(name: &str, settings: &[(&str, &str)], people: &[&str]) -> Vec<String> {
        let settings = settings.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let people: Vec<Recipient> = people.iter().map(|p| Recipient::parse(p)).collect();
        default_grants(name, &settings, &people, "US").unwrap().iter().map(Grant::to_string).collect()
    }

    #[test]
    fn every_built_in_has_default_grants() {
        for b in all() {
            assert!(default_grants(b.name, &BTreeMap::new(), &[], "US").is_some(), "{} has no default grants", b.name);
        }
        assert_eq!(default_grants("my-plugin", &BTreeMap::new(), &[], "US"), None);
    }

    #[test]
    fn the_defaults_follow_the_team_settings() {
        assert_eq!(grants("invoice-paid", &[], &[]), ["customer"]);
        assert_eq!(grants("invoice-overdue", &[], &[]), ["customer", "team:accounting"]);
        assert_eq!(grants("invoice-overdue", &[("team_contact", " collections ")], &[]), ["customer", "team:collections"]);
        assert_eq!(grants("estimate-notices", &[("team_contact", "")], &[]), ["customer"]);
        assert_eq!(grants("qad-receipts", &[("ap_contact", "payables")], &[]), ["team:payables"]);
    }

    #[test]
    fn the_qad_alerts_may_address_the_people_map() {
        let people = ["+15555550101", "(415) 555-2672", "team:plant"];
        assert_eq!(
            grants("qad-po-approvals", &[], &people),
            ["team:purchasing", "number:+15555550101", "number:+14155552672", "team:plant"]
        );
        assert_eq!(grants("qad-invoice-alerts", &[("fallback_contact", "buyers")], &[]), ["team:buyers"]);
        assert_eq!(grants("qad-receipts", &[], &people), ["team:ap"], "qad-receipts messages its team only");
    }
}
