//! Which message a Twilio request was made for, carried in the query of its `StatusCallback`
//! URL (`?outbox=ID&series=S&attempt=N`). Twilio calls that URL back exactly as given, so the
//! first status callback links a SID to its message even when the host died before recording
//! Twilio's answer — the one way to tell apart calls to one number, which carry no body.

/// The message (outbox row, attempt series and attempt) a request was made for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageTag {
    /// The outbox row.
    pub outbox_id: i64,
    /// Its attempt series (1, plus one per replay).
    pub series: u32,
    /// The attempt within the series.
    pub attempt: u32,
}

impl MessageTag {
    /// `base` (the status callback URL) with this tag in its query.
    pub fn callback_url(&self, base: &str) -> String {
        let joiner = if base.contains('?') { '&' } else { '?' };
        format!("{base}{joiner}outbox={}&series={}&attempt={}", self.outbox_id, self.series, self.attempt)
    }

    /// The tag in a callback's query string; `None` unless all three parts are present and
    /// numeric.
    pub fn from_query(query: &str) -> Option<Self> {
        let (mut outbox_id, mut series, mut attempt) = (None, None, None);
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            match name.as_ref() {
                "outbox" => outbox_id = value.parse().ok(),
                "series" => series = value.parse().ok(),
                "attempt" => attempt = value.parse().ok(),
                _ => {}
            }
        }
        Some(MessageTag { outbox_id: outbox_id?, series: series?, attempt: attempt? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_reads_back_from_the_query_of_its_callback_url() {
        let tag = MessageTag { outbox_id: 129, series: 2, attempt: 3 };
        let url = tag.callback_url("https://hooks.example.com/webhooks/twilio/status");
        assert_eq!(url, "https://hooks.example.com/webhooks/twilio/status?outbox=129&series=2&attempt=3");
        let query = url.split_once('?').unwrap().1;
        assert_eq!(MessageTag::from_query(query), Some(tag));
    }

    #[test]
    fn a_query_missing_a_part_or_with_a_non_number_has_no_tag() {
        assert_eq!(MessageTag::from_query("outbox=1&series=1"), None);
        assert_eq!(MessageTag::from_query("outbox=x&series=1&attempt=1"), None);
        assert_eq!(MessageTag::from_query(""), None);
    }
}
