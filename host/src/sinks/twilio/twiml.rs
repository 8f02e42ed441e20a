//! TwiML for voice calls. Plugin text is always XML-escaped here, so a plugin
//! can only ever make Twilio *say* something, never dial, redirect or play.

/// Escapes text for an XML text node (and attribute values).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 forbids most control characters even when escaped.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// The TwiML document that speaks `text` once: `<Response><Say>…</Say></Response>`.
pub fn say(text: &str) -> String {
    format!("<Response><Say>{}</Say></Response>", escape(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_voice_text_is_spoken_not_executed() {
        let twiml = say("Hi </Say><Dial>+15555550100</Dial><Say>");
        assert_eq!(
            twiml,
            "<Response><Say>Hi &lt;/Say&gt;&lt;Dial&gt;+15555550100&lt;/Dial&gt;&lt;Say&gt;</Say></Response>"
        );
        assert_eq!(twiml.matches('<').count(), 4, "only our own four tags remain");
    }

    #[test]
    fn ampersands_quotes_and_control_characters_are_made_safe() {
        assert_eq!(escape("A&B \"q\" 'a'\u{0}"), "A&amp;B &quot;q&quot; &apos;a&apos; ");
    }
}
