//! A plugin's settings: string pairs from the host configuration, read with
//! defaults so that a plugin works with none configured.

use std::fmt::Display;
use std::str::FromStr;

use crate::Error;

/// Read access to `Context::settings`; get one with `context.settings()`.
#[derive(Debug, Clone, Copy)]
pub struct Settings<'a> {
    pairs: &'a [(String, String)],
}

impl<'a> Settings<'a> {
    /// Wraps the settings pairs the host passed in.
    pub fn new(pairs: &'a [(String, String)]) -> Self {
        Settings { pairs }
    }

    /// The value of `key`, if it is set (the last one wins if set twice).
    pub fn get(&self, key: &str) -> Option<&'a str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The value of `key`, or `default` when it is not set.
    pub fn get_or(&self, key: &str, default: &'a str) -> &'a str {
        self.get(key).unwrap_or(default)
    }

    /// The value of `key` parsed as a `T` (surrounding spaces ignored), or
    /// `default` when it is not set; a value that does not parse is an error
    /// naming the setting, e.g. ``setting `lead_days` = "three": invalid
    /// digit found in string``.
    ///
    /// ```
    /// # use ml_connector_sdk::Settings;
    /// let pairs = vec![("lead_days".to_string(), "5".to_string())];
    /// let settings = Settings::new(&pairs);
    /// assert_eq!(settings.parse_or("lead_days", 3u32), Ok(5));
    /// assert_eq!(settings.parse_or("retries", 2u32), Ok(2));
    /// ```
    pub fn parse_or<T>(&self, key: &str, default: T) -> Result<T, Error>
    where
        T: FromStr,
        T::Err: Display,
    {
        match self.get(key) {
            None => Ok(default),
            Some(value) => value
                .trim()
                .parse()
                .map_err(|e| Error::new(format!("setting `{key}` = {value:?}: {e}"))),
        }
    }

    /// The comma-separated items of `key` (or of `default` when it is not
    /// set), trimmed, empty items dropped: `"a, b,"` gives `["a", "b"]`.
    pub fn list_or(&self, key: &str, default: &'a str) -> Vec<&'a str> {
        self.get_or(key, default)
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn reads_with_defaults() {
        let pairs = pairs(&[
            ("team_contact", "sales"),
            ("lead_days", " 5 "),
            ("notify_on", "a, b,"),
        ]);
        let settings = Settings::new(&pairs);
        assert_eq!(settings.get("team_contact"), Some("sales"));
        assert_eq!(settings.get("missing"), None);
        assert_eq!(settings.get_or("team_contact", "accounting"), "sales");
        assert_eq!(settings.get_or("reminder_time", "09:00"), "09:00");
        assert_eq!(settings.parse_or("lead_days", 3u32), Ok(5));
        assert_eq!(settings.parse_or("other", 3u32), Ok(3));
        assert_eq!(settings.list_or("notify_on", "x"), vec!["a", "b"]);
        assert_eq!(
            settings.list_or("missing", "invoice.sent"),
            vec!["invoice.sent"]
        );
    }

    #[test]
    fn last_value_wins() {
        let pairs = pairs(&[("k", "1"), ("k", "2")]);
        assert_eq!(Settings::new(&pairs).get("k"), Some("2"));
    }

    #[test]
    fn bad_number_names_the_setting() {
        let pairs = pairs(&[("lead_days", "three")]);
        let err = Settings::new(&pairs)
            .parse_or("lead_days", 3u32)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "setting `lead_days` = \"three\": invalid digit found in string"
        );
    }
}
