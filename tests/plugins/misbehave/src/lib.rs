//! Misbehaves on command, to test the sandbox: the event kind says how.
//! Every branch must end in a clear error (or harmless output) on the host.

use std::hint::black_box;

// Built against the frozen WIT 0.1.0 on purpose: it shows the host still loads 0.1.0 plugins.
wit_bindgen::generate!({ path: "../../../wit/since_v0.1.0", world: "notifier" });

use exports::ml_connector::plugin::handler::{Action, Context, Event, Guest, Manifest};
use ml_connector::plugin::types::{Message, Recipient};

struct Misbehave;

/// Writes 1 MiB to stdout and 1 MiB to stderr, checking that every write succeeds.
fn chatter() {
    use std::io::Write as _;
    let line = [b'.'; 1023];
    for i in 0..1024 {
        let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
        out.write_all(&line).and_then(|()| out.write_all(b"\n")).unwrap_or_else(|e| panic!("stdout write {i} failed: {e}"));
        err.write_all(&line).and_then(|()| err.write_all(b"\n")).unwrap_or_else(|e| panic!("stderr write {i} failed: {e}"));
    }
    std::io::stdout().flush().expect("flush stdout");
}

fn sms(body: String, key: String) -> Action {
    Action::Sms(Message { to: Recipient::Customer, body, key, not_before: None })
}

impl Guest for Misbehave {
    fn describe() -> Manifest {
        Manifest {
            name: "misbehave".into(),
            version: "0.1.0".into(),
            description: "Hostile test plugin.".into(),
            subscribes: vec!["test.*".into()],
        }
    }

    fn handle(event: Event, _context: Context) -> Result<Vec<Action>, String> {
        match event.kind.as_str() {
            "test.loop" => loop {
                black_box(());
            },
            "test.alloc" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(black_box(vec![1u8; 1 << 20]));
                }
            }
            "test.panic" => panic!("misbehave panicked on purpose"),
            "test.read-file" => match std::fs::read_to_string(&event.data) {
                Ok(text) => Ok(vec![sms(text, "leak".into())]),
                Err(e) => Err(format!("cannot read {}: {e}", event.data)),
            },
            "test.env" => {
                let env: Vec<String> = std::env::vars().map(|(k, v)| format!("{k}={v}")).collect();
                let args: Vec<String> = std::env::args().collect();
                if env.is_empty() && args.is_empty() {
                    Err("no environment and no arguments".into())
                } else {
                    Ok(vec![sms(format!("env={env:?} args={args:?}"), "leak".into())])
                }
            }
            "test.socket" => match std::net::TcpStream::connect(event.data.as_str()) {
                Ok(_) => Ok(vec![sms("connected".into(), "leak".into())]),
                Err(e) => Err(format!("cannot connect to {}: {e}", event.data)),
            },
            "test.flood" => Ok((0..10_000).map(|i| sms("spam".into(), format!("k{i}"))).collect()),
            "test.twiml" => Ok(vec![Action::Call(Message {
                to: Recipient::Team("accounting".into()),
                body: "Hello </Say><Dial>+15555550100</Dial><Say>".into(),
                key: "inject".into(),
                not_before: None,
            })]),
            // An SMS to whoever the event names: `{"to":"team:sales"}` (the host's grants decide).
            "test.to" => {
                let to = event.data.split("\"to\"").nth(1).and_then(|rest| rest.split('"').nth(1)).ok_or("no \"to\" in the event")?;
                let to = match to {
                    "customer" => Recipient::Customer,
                    team if team.starts_with("team:") => Recipient::Team(team["team:".len()..].into()),
                    number => Recipient::Number(number.into()),
                };
                Ok(vec![Action::Sms(Message { to, body: "addressed".into(), key: format!("to:{}", event.id), not_before: None })])
            }
            "test.clock" => {
                // What a guest can read that is not its input: the clock, a monotonic instant
                // and the seed behind std's hash maps. The host fixes all three by the input.
                let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_err(|e| e.to_string())?;
                let start = std::time::Instant::now();
                let hash = std::hash::BuildHasher::hash_one(&std::collections::hash_map::RandomState::new(), "x");
                let still = start.elapsed();
                Ok(vec![sms(format!("{} {} {hash:016x} {still:?}", now.as_secs(), now.subsec_nanos()), "clock".into())])
            }
            "test.chatter" => {
                // 1 MiB to each of stdout and stderr, far over the host's output budget, then
                // a normal answer: the output is truncated, the plugin is not stopped.
                chatter();
                Ok(vec![sms("said a lot".into(), "chatter".into())])
            }
            "test.chatter-panic" => {
                chatter();
                panic!("last words after the chatter")
            }
            other => Err(format!("unknown command {other}")),
        }
    }
}

export!(Misbehave);
