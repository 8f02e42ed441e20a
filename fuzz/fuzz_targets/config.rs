//! Configuration text and environment overrides through `Config::parse` (what `Config::load`
//! does after reading the file): never a panic, every error can be shown, and what loads
//! validates the same way twice.
//! Input: the TOML text, then optionally a NUL byte and `NAME=value` lines for the environment.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use ml_connector::config::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(data) = std::str::from_utf8(data) else { return };
    let (text, vars) = data.split_once('\0').unwrap_or((data, ""));
    let env = |name: &str| {
        vars.lines()
            .filter_map(|line| line.split_once('='))
            .find(|(n, _)| *n == name)
            .map(|(_, value)| value.to_owned())
    };
    let file = Path::new("fuzz.toml");
    match Config::parse(file, text, &env) {
        Ok(config) => {
            let _ = config.server.resolved_public_url();
            let _ = config.store.resolved_cache_dir();
            if let Some(window) = config.twilio.quiet_hours {
                assert_ne!(window.start, window.end);
            }
            if let Some(zone) = &config.twilio.timezone {
                // Whatever loads names a zone that reads back as itself.
                assert_eq!(ml_connector::timezone::Timezone::parse(zone.as_str()).as_ref(), Ok(zone));
            }
            assert_eq!(Config::parse(file, text, &env).ok(), Some(config));
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
});
