//! Field validators of the configuration: they run while the file is deserialized, so an error
//! points at the key's line.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer};

pub(super) fn positive<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default + PartialEq,
{
    let value = T::deserialize(deserializer)?;
    if value == T::default() {
        return Err(de::Error::custom("must be greater than 0"));
    }
    Ok(value)
}

pub(super) fn opt_positive<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    positive(deserializer).map(Some)
}

pub(super) fn http_url<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let url = String::deserialize(deserializer)?;
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| de::Error::custom(format!("{url:?} is not an http:// or https:// URL")))?;
    if rest.is_empty() || rest.starts_with('/') || url.chars().any(char::is_whitespace) {
        return Err(de::Error::custom(format!("{url:?} is not a valid URL")));
    }
    Ok(url)
}

pub(super) fn opt_http_url<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    http_url(deserializer).map(Some)
}

pub(super) fn opt_non_empty<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    let text = String::deserialize(deserializer)?;
    if text.trim().is_empty() {
        return Err(de::Error::custom("must not be empty"));
    }
    Ok(Some(text))
}

/// A Twilio SID: a two-letter prefix and 32 hex digits.
pub(super) fn sid<'de, D: Deserializer<'de>>(
    deserializer: D,
    prefix: &str,
) -> Result<Option<String>, D::Error> {
    let text = String::deserialize(deserializer)?;
    let valid = text
        .strip_prefix(prefix)
        .is_some_and(|hex| hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()));
    if !valid {
        return Err(de::Error::custom(format!(
            "{text:?} is not {prefix} followed by 32 hex digits"
        )));
    }
    Ok(Some(text))
}

pub(super) fn opt_account_sid<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    sid(deserializer, "AC")
}

pub(super) fn opt_messaging_service_sid<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    sid(deserializer, "MG")
}

pub(super) fn region<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let text = String::deserialize(deserializer)?;
    if text.len() != 2 || !text.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(de::Error::custom(format!(
            "{text:?} is not a two-letter region code like \"US\""
        )));
    }
    Ok(text)
}

pub(super) fn team<'de, D: Deserializer<'de>>(deserializer: D) -> Result<BTreeMap<String, String>, D::Error> {
    let team = BTreeMap::<String, TeamNumber>::deserialize(deserializer)?;
    if team.keys().any(|name| name.trim().is_empty()) {
        return Err(de::Error::custom("a team contact has an empty name"));
    }
    Ok(team
        .into_iter()
        .map(|(name, number)| (name, number.0))
        .collect())
}

/// A `[team]` value: any non-empty text (numbers are normalised when messages are sent).
pub(super) struct TeamNumber(String);

impl<'de> Deserialize<'de> for TeamNumber {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let number = String::deserialize(deserializer)?;
        if number.trim().is_empty() {
            return Err(de::Error::custom("must not be empty"));
        }
        Ok(Self(number))
    }
}

/// A setting value: strings as they are, integers, floats and booleans as their TOML text.
pub(super) struct SettingValue(String);

impl<'de> Deserialize<'de> for SettingValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;

        impl de::Visitor<'_> for Visitor {
            type Value = SettingValue;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<SettingValue, E> {
                Ok(SettingValue(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<SettingValue, E> {
                Ok(SettingValue(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<SettingValue, E> {
                Ok(SettingValue(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<SettingValue, E> {
                Ok(SettingValue(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<SettingValue, E> {
                Ok(SettingValue(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<SettingValue, E> {
                Ok(SettingValue(v.to_string()))
            }
        }

        deserializer.deserialize_any(Visitor)
    }
}

pub(super) fn settings<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    let raw = BTreeMap::<String, SettingValue>::deserialize(deserializer)?;
    Ok(raw.into_iter().map(|(k, v)| (k, v.0)).collect())
}
