//! Wave's example webhook bodies, one per event kind, embedded for `wave send-test-event`.
//!
//! The files are the payload examples from Wave's webhooks guide, kept in the repository as
//! `tests/fixtures/events/wave/<kind>.json` (where the tests use them too).

macro_rules! samples {
    ($($kind:literal),+ $(,)?) => {
        /// Every kind with a sample, sorted.
        const KINDS: &[&str] = &[$($kind),+];

        /// The sample body for `kind`.
        fn lookup(kind: &str) -> Option<&'static str> {
            match kind {
                $($kind => Some(include_str!(concat!(
                    "../../../../tests/fixtures/events/wave/", $kind, ".json"
                ))),)+
                _ => None,
            }
        }
    };
}

samples!(
    "customer.created",
    "estimate.accepted",
    "estimate.approved",
    "estimate.expired",
    "estimate.overpaid",
    "estimate.paid",
    "estimate.partially_paid",
    "estimate.reset",
    "estimate.sent",
    "estimate.viewed",
    "invoice.approved",
    "invoice.created",
    "invoice.overdue",
    "invoice.overpaid",
    "invoice.paid",
    "invoice.partially_paid",
    "invoice.sent",
    "invoice.viewed",
);

/// Wave's example webhook body for `kind` (e.g. `invoice.paid`), exactly as in the fixture file.
pub fn sample(kind: &str) -> Option<&'static str> {
    lookup(kind)
}

/// The kinds [`sample`] knows, sorted.
pub fn kinds() -> &'static [&'static str] {
    KINDS
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::wave::payload;

    #[test]
    fn every_sample_is_a_valid_event_of_its_kind() {
        for kind in kinds() {
            let body = sample(kind).unwrap();
            let event = payload::parse(body.as_bytes(), chrono::Utc::now())
                .unwrap_or_else(|e| panic!("{kind}: {e}"));
            assert_eq!(&event.kind, kind);
        }
    }

    #[test]
    fn kinds_are_sorted_and_unknown_kinds_have_no_sample() {
        assert!(kinds().windows(2).all(|w| w[0] < w[1]));
        assert!(sample("invoice.nope").is_none());
    }

    #[test]
    fn every_fixture_file_is_embedded() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/events/wave");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter_map(|name| name.strip_suffix(".json").map(str::to_owned))
            .collect();
        files.sort();
        assert_eq!(files, kinds());
    }
}
