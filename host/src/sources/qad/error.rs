//! What can go wrong talking to a QAD tenant, in the two classes the poll driver acts on: try
//! again later, or wait for an operator ([`PollError`], shared by every poller).

pub use crate::sources::poll::PollError;
