//! The Wave webhook secrets: `wave.webhook_secret` and, during a rotation,
//! `wave.webhook_secret.<suffix>`; a signature is accepted with any of them.

use crate::secrets::validate_name;

/// Wave webhook signing secret. Further secrets named `wave.webhook_secret.<suffix>` are accepted
/// too, and verification tries all of them, so a new secret can be added before the old one is
/// removed (see [`is_webhook_secret`]).
pub const WAVE_WEBHOOK_SECRET: &str = "wave.webhook_secret";
/// Wave OAuth application client secret.
pub const WAVE_CLIENT_SECRET: &str = "wave.client_secret";

/// Whether `name` holds a Wave webhook secret: [`WAVE_WEBHOOK_SECRET`] itself or
/// `wave.webhook_secret.<suffix>`. Signature verification tries every one of them.
pub fn is_webhook_secret(name: &str) -> bool {
    match name.strip_prefix(WAVE_WEBHOOK_SECRET) {
        Some("") => true,
        Some(rest) => rest.len() > 1 && rest.starts_with('.') && validate_name(name).is_ok(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_secret_names_allow_rotation_suffixes() {
        assert!(is_webhook_secret("wave.webhook_secret"));
        assert!(is_webhook_secret("wave.webhook_secret.2025-06"));
        assert!(!is_webhook_secret("wave.webhook_secret."));
        assert!(!is_webhook_secret("wave.webhook_secrets"));
        assert!(!is_webhook_secret("wave.webhook_secret.Bad"));
        assert!(!is_webhook_secret("wave.client_secret"));
    }
}
