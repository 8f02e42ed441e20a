//! "No stored secret value ever appears in a log line" (issue 18), checked on every e2e run: the
//! values tests store through [`super::site::Site::set_secret`] (and the sites' master key) are
//! remembered, and each `serve`'s captured log is searched for them when it stops.

use std::sync::Mutex;

/// Every secret value stored by a test of this binary so far.
static STORED: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Remembers `value` as a stored secret.
pub fn remember(value: &str) {
    let mut stored = STORED.lock().unwrap_or_else(|e| e.into_inner());
    if !stored.iter().any(|v| v == value) {
        stored.push(value.to_owned());
    }
}

/// The log lines of `log` holding a stored secret or the master key, with the secret's name
/// masked; empty when none does.
pub fn leaks(log: &[String]) -> Vec<String> {
    let stored = STORED.lock().unwrap_or_else(|e| e.into_inner());
    let values = stored.iter().map(String::as_str).chain([super::site::MASTER_KEY]);
    let values: Vec<&str> = values.filter(|v| !v.is_empty()).collect();
    log.iter()
        .filter_map(|line| values.iter().find(|v| line.contains(**v)).map(|v| line.replace(v, "<SECRET>")))
        .collect()
}

/// Panics naming (masked) every log line of `log` that holds a stored secret.
pub fn assert_none_in(log: &[String]) {
    let leaked = leaks(log);
    assert!(leaked.is_empty(), "{} log line(s) hold a stored secret value:\n{}", leaked.len(), leaked.join("\n"));
}

