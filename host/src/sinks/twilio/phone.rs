//! E.164 normalisation with a libphonenumber port: numbers written without a country code are
//! read in the configured default region.

use std::str::FromStr as _;

use phonenumber::{Mode, country};

/// Why a number cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    /// The configured region is not a CLDR region code.
    #[error("unknown default region {0:?}")]
    Region(String),
    /// The text is not a phone number at all.
    #[error("{number:?} is not a phone number: {reason}")]
    Unparsable {
        /// The text.
        number: String,
        /// The parser's reason.
        reason: String,
    },
    /// It parses but is not a valid number for its region.
    #[error("{0:?} is not a valid phone number")]
    Invalid(String),
}

/// Normalises `text` to E.164 (`+15555550100`), reading national numbers in `default_region`
/// (e.g. `US`).
pub fn to_e164(text: &str, default_region: &str) -> Result<String, PhoneError> {
    let region = country::Id::from_str(&default_region.to_ascii_uppercase())
        .map_err(|_| PhoneError::Region(default_region.to_owned()))?;
    let number = phonenumber::parse(Some(region), text.trim()).map_err(|e| PhoneError::Unparsable {
        number: text.to_owned(),
        reason: e.to_string(),
    })?;
    if !phonenumber::is_valid(&number) {
        return Err(PhoneError::Invalid(text.to_owned()));
    }
    Ok(number.format().mode(Mode::E164).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn national_numbers_are_read_in_the_default_region() {
        assert_eq!(to_e164("(415) 555-2671", "US").unwrap(), "+14155552671");
        assert_eq!(to_e164("020 7946 0958", "GB").unwrap(), "+442079460958");
    }

    #[test]
    fn international_numbers_keep_their_country() {
        assert_eq!(to_e164("+44 20 7946 0958", "US").unwrap(), "+442079460958");
        assert_eq!(to_e164("+14155552671", "US").unwrap(), "+14155552671");
    }

    #[test]
    fn garbage_and_impossible_numbers_are_rejected() {
        assert!(matches!(to_e164("call me", "US"), Err(PhoneError::Unparsable { .. })));
        assert!(to_e164("+1 555", "US").is_err());
        assert!(matches!(to_e164("+1234", "ZZZ"), Err(PhoneError::Region(_))));
    }
}
