//! The `terse` filter: multi-line message data becomes its first line plus a byte count.

use crate::{Payload, Side, TraceEvent};

/// Cuts multi-line `data` to its first line (without the line break) and its total length in
/// bytes; `None` when the data is a single line, with or without a final line break.
///
/// # Examples
///
/// ```
/// use kumo_trace::abbreviate;
///
/// assert_eq!(abbreviate("Subject: hi\r\n\r\nbody\r\n"), Some(("Subject: hi", 21)));
/// assert_eq!(abbreviate("MAIL FROM:<a@example.com>\r\n"), None);
/// ```
pub fn abbreviate(data: &str) -> Option<(&str, u64)> {
    let (first, len) = abbreviate_bytes(data.as_bytes())?;
    // The cut is at an ASCII line break, so it is a character boundary.
    Some((&data[..first.len()], len))
}

/// [`abbreviate`] on bytes: the first line (without its line break) and the total length.
pub(crate) fn abbreviate_bytes(data: &[u8]) -> Option<(&[u8], u64)> {
    let nl = data.iter().position(|&b| b == b'\n')?;
    if nl + 1 == data.len() {
        return None;
    }
    let first = &data[..nl];
    let first = first.strip_suffix(b"\r").unwrap_or(first);
    Some((first, data.len() as u64))
}

/// The terse payload for `data` that a session on `side` read (`read`) or wrote, made from the
/// bytes without copying more than the first line; `None` when terse leaves such data whole.
/// The same cut as [`terse`], for publishers that know every subscriber wants it.
pub(crate) fn terse_bytes(side: Side, read: bool, data: &[u8]) -> Option<Payload> {
    let cuts = match side {
        Side::Server => read,
        Side::Client => !read,
    };
    if !cuts {
        return None;
    }
    let (first, len) = abbreviate_bytes(data)?;
    let snippet = String::from_utf8_lossy(first).into_owned();
    Some(if read {
        Payload::AbbreviatedRead { snippet, len }
    } else {
        Payload::AbbreviatedWrite { snippet, len }
    })
}

/// The terse form of `event`, when it differs: multi-line data in the direction that carries
/// message content becomes [`Payload::AbbreviatedRead`] / [`Payload::AbbreviatedWrite`].
///
/// The direction follows the side, as in KumoMTA: a server *reads* message data, so its
/// multi-line [`Payload::Read`] is cut; a client *writes* it, so its multi-line
/// [`Payload::Write`] is cut. Single-line data, the other direction (multi-line EHLO
/// responses stay whole) and every other payload are left alone (`None`).
///
/// The hub applies this at the source for subscribers that ask for it
/// ([`SubscribeOptions::terse`](crate::SubscribeOptions::terse)), once per published event
/// however many terse subscribers there are. A reader of a stream from a producer that did not
/// cut can apply it itself; it is idempotent.
///
/// # Examples
///
/// ```
/// use kumo_trace::{terse, Payload, SessionKey, Side, Timestamp, TraceEvent};
///
/// let ev = TraceEvent::new(
///     Side::Server,
///     SessionKey::new("s1"),
///     Timestamp::UNIX_EPOCH,
///     Payload::read("From: a@example.com\r\nSubject: hi\r\n\r\nhello\r\n.\r\n"),
/// );
/// let cut = terse(&ev).expect("multi-line data is cut");
/// assert_eq!(
///     cut.payload,
///     Payload::AbbreviatedRead { snippet: "From: a@example.com".into(), len: 46 }
/// );
/// ```
pub fn terse(event: &TraceEvent) -> Option<TraceEvent> {
    let payload = terse_payload(event)?;
    Some(TraceEvent {
        side: event.side,
        session: event.session.clone(),
        when: event.when,
        meta: event.meta.clone(),
        payload,
    })
}

/// [`terse`] on an owned event, replacing the payload in place.
pub(crate) fn terse_in_place(event: &mut TraceEvent) {
    if let Some(p) = terse_payload(event) {
        event.payload = p;
    }
}

/// The abbreviated payload of `event`, when [`terse`] applies.
fn terse_payload(event: &TraceEvent) -> Option<Payload> {
    match (&event.payload, event.side) {
        (Payload::Read { data }, Side::Server) => {
            let (snippet, len) = abbreviate(data)?;
            Some(Payload::AbbreviatedRead {
                snippet: snippet.to_owned(),
                len,
            })
        }
        (Payload::Write { data }, Side::Client) => {
            let (snippet, len) = abbreviate(data)?;
            Some(Payload::AbbreviatedWrite {
                snippet: snippet.to_owned(),
                len,
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_breaks() {
        assert_eq!(abbreviate(""), None);
        assert_eq!(abbreviate("\n"), None);
        assert_eq!(abbreviate("a\r\n"), None);
        assert_eq!(abbreviate("a"), None);
        assert_eq!(abbreviate("a\nb"), Some(("a", 3)));
        assert_eq!(abbreviate("\r\n\r\n"), Some(("", 4)));
        assert_eq!(abbreviate("é\r\nx"), Some(("é", 5)));
    }

    #[test]
    fn bytes_are_cut_like_text_in_the_direction_of_the_side() {
        let body = b"Subject: hi\r\n\r\nbody\r\n";
        let cut = Payload::AbbreviatedWrite {
            snippet: "Subject: hi".into(),
            len: body.len() as u64,
        };
        assert_eq!(terse_bytes(Side::Client, false, body), Some(cut));
        assert_eq!(terse_bytes(Side::Client, true, body), None);
        assert_eq!(terse_bytes(Side::Server, false, body), None);
        assert!(matches!(
            terse_bytes(Side::Server, true, body),
            Some(Payload::AbbreviatedRead { len: 21, .. })
        ));
        assert_eq!(terse_bytes(Side::Client, false, b"QUIT\r\n"), None);
        assert_eq!(
            terse_bytes(Side::Client, false, b"\xff\r\nx"),
            Some(Payload::AbbreviatedWrite {
                snippet: "\u{fffd}".into(),
                len: 4
            })
        );
    }
}
