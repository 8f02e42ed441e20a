//! Case folders, as `ml-connector plugin test` runs them: each folder holds
//! `event.json` (a Wave webhook body or an event in the host's form),
//! `context.json`, and either `expected.json` (the actions, as `plugin run`
//! prints them) or `error.txt` (text the plugin's failure must contain). An
//! optional `plugin` file names the plugin the case is for; cases for other
//! plugins are skipped, so one folder can hold every plugin's cases.
//!
//! A Wave event's `received_at` is the context's `now`, so a case gives the
//! same event every time it runs.

use std::fmt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde_json::Value;
use similar::TextDiff;

use super::{HarnessError, actions_json, parse_context, parse_event_at, read};
use crate::runtime::Plugin;

/// One case folder.
#[derive(Debug, Clone)]
pub struct Case {
    /// The folder's name.
    pub name: String,
    /// The folder.
    pub dir: PathBuf,
    /// The plugin it is for (its `plugin` file), if it says.
    pub plugin: Option<String>,
}

/// How one case went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The plugin did what the case expects.
    Passed,
    /// The actions differ from `expected.json`: a unified diff, expected first.
    ActionsDiffer(String),
    /// The plugin failed where `expected.json` expected actions.
    Failed(String),
    /// `error.txt` expected a failure, and the plugin returned these actions.
    Succeeded(String),
    /// The plugin failed, but without the text of `error.txt`.
    ErrorDiffers {
        /// The text of `error.txt`.
        expected: String,
        /// The plugin's failure.
        actual: String,
    },
    /// The folder is incomplete or a file in it does not parse.
    Invalid(String),
}

impl Outcome {
    /// Whether the case passed.
    pub fn passed(&self) -> bool {
        *self == Outcome::Passed
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Passed => f.write_str("passed"),
            Outcome::ActionsDiffer(diff) => write!(f, "the actions differ from expected.json:\n{diff}"),
            Outcome::Failed(error) => write!(f, "the plugin failed, expected.json expects actions:\n{error}"),
            Outcome::Succeeded(actions) => write!(f, "the plugin returned actions, error.txt expects a failure:\n{actions}"),
            Outcome::ErrorDiffers { expected, actual } => {
                write!(f, "the failure does not contain the text of error.txt ({expected:?}):\n{actual}")
            }
            Outcome::Invalid(reason) => write!(f, "invalid case: {reason}"),
        }
    }
}

/// The cases in `dir`: `dir` itself when it holds an `event.json`, else
/// every folder in it that does, by name.
pub fn find(dir: &Path) -> Result<Vec<Case>, HarnessError> {
    let case = |dir: PathBuf| {
        let plugin = std::fs::read_to_string(dir.join("plugin")).ok().map(|p| p.trim().to_string());
        let name = dir.file_name().map_or_else(|| dir.display().to_string(), |n| n.to_string_lossy().into_owned());
        Case { name, dir, plugin }
    };
    if dir.join("event.json").is_file() {
        return Ok(vec![case(dir.to_path_buf())]);
    }
    let entries = std::fs::read_dir(dir).map_err(|cause| HarnessError::Read { path: dir.display().to_string(), cause })?;
    let mut cases: Vec<Case> =
        entries.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.join("event.json").is_file()).map(case).collect();
    cases.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(cases)
}

/// The cases for `plugin` (those whose `plugin` file names it, or that have
/// none), and how many are for other plugins.
pub fn select(cases: Vec<Case>, plugin: &str) -> (Vec<Case>, usize) {
    let (mine, others): (Vec<Case>, Vec<Case>) =
        cases.into_iter().partition(|c| c.plugin.as_deref().is_none_or(|p| p == plugin));
    (mine, others.len())
}

/// Runs `plugin` on one case under the host's runtime and limits.
pub fn run(plugin: &Plugin, case: &Case) -> Outcome {
    let expected = match Expected::read(&case.dir) {
        Ok(expected) => expected,
        Err(reason) => return Outcome::Invalid(reason),
    };
    let context = match read(&case.dir.join("context.json")).and_then(|json| parse_context(&json)) {
        Ok(context) => context,
        Err(e) => return Outcome::Invalid(e.to_string()),
    };
    let received_at = DateTime::parse_from_rfc3339(&context.now).map_or_else(|_| Utc::now(), |now| now.to_utc());
    let event = match read(&case.dir.join("event.json")).and_then(|json| parse_event_at(&json, received_at)) {
        Ok(event) => event,
        Err(e) => return Outcome::Invalid(e.to_string()),
    };
    if !plugin.manifest().subscribes_to(&event.kind) {
        return Outcome::Invalid(format!("{} does not subscribe to {}, so the host never calls it with this event", plugin.name(), event.kind));
    }
    let result = plugin.handle(&event, &context).map(|invocation| actions_json(&invocation.actions));
    match (expected, result) {
        (Expected::Actions(expected), Ok(actual)) if actual == expected => Outcome::Passed,
        (Expected::Actions(expected), Ok(actual)) => Outcome::ActionsDiffer(diff(&pretty(&expected), &pretty(&actual))),
        (Expected::Actions(_), Err(e)) => Outcome::Failed(e.to_string()),
        (Expected::Error(_), Ok(actual)) => Outcome::Succeeded(pretty(&actual)),
        (Expected::Error(text), Err(e)) if e.to_string().contains(&text) => Outcome::Passed,
        (Expected::Error(expected), Err(e)) => Outcome::ErrorDiffers { expected, actual: e.to_string() },
    }
}

/// What a case expects.
enum Expected {
    Actions(Value),
    Error(String),
}

impl Expected {
    fn read(dir: &Path) -> Result<Expected, String> {
        let (json, error) = (dir.join("expected.json"), dir.join("error.txt"));
        match (json.is_file(), error.is_file()) {
            (true, false) => {
                let text = read(&json).map_err(|e| e.to_string())?;
                serde_json::from_slice(&text).map(Expected::Actions).map_err(|e| format!("expected.json: {e}"))
            }
            (false, true) => {
                let text = std::fs::read_to_string(&error).map_err(|e| format!("error.txt: {e}"))?;
                match text.trim() {
                    "" => Err("error.txt is empty".into()),
                    text => Ok(Expected::Error(text.to_string())),
                }
            }
            (true, true) => Err("has both expected.json and error.txt; keep one".into()),
            (false, false) => Err("has neither expected.json nor error.txt".into()),
        }
    }
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).expect("JSON values always serialize") + "\n"
}

/// A unified line diff of `expected` and `actual`.
fn diff(expected: &str, actual: &str) -> String {
    TextDiff::from_lines(expected, actual).unified_diff().context_radius(3).header("expected.json", "actual").to_string()
}
