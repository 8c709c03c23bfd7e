//! The decoders take untrusted bytes (whatever is on disk): `Metadata::decode` and
//! `SpoolId::parse_ascii` return errors, never panic; encodings round-trip; any one flipped bit
//! of a metadata encoding is detected.

use std::time::{Duration, UNIX_EPOCH};

use kumo_spool::{DecodeError, Metadata, SpoolId};
use proptest::prelude::*;

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9.@+-]{0,24}",
        any::<String>(),
        Just(String::new()),
        Just("用户@例子.广告".to_string()),
    ]
}

fn metadata() -> impl Strategy<Value = Metadata> {
    (
        text(),
        prop::collection::vec(text(), 0..8),
        text(),
        any::<u32>(),
        // Whole milliseconds: that is what is kept. `u64::MAX` itself stands for "no due time".
        prop::option::of(prop_oneof![0..u64::MAX, Just(u64::MAX - 1), Just(0)]),
        prop::collection::vec(any::<u8>(), 0..64),
    )
        .prop_map(
            |(sender, recipients, queue, attempts, due, host)| Metadata {
                sender,
                recipients,
                queue,
                attempts,
                due: due.map(|ms| UNIX_EPOCH + Duration::from_millis(ms)),
                host: host.into(),
            },
        )
}

/// `body` with its CRC-32 appended, as `encode` ends an encoding: bytes that pass the checksum
/// and reach the field parser.
fn with_crc(mut body: Vec<u8>) -> Vec<u8> {
    let crc = crc32fast::hash(&body);
    body.extend_from_slice(&crc.to_be_bytes());
    body
}

proptest! {
    #[test]
    fn decode_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = Metadata::decode(&bytes);
    }

    /// Arbitrary bytes with a valid checksum: the field parser sees them all. Whatever decodes
    /// encodes back to the same bytes (the encoding is canonical).
    #[test]
    fn decode_checksummed_arbitrary_bytes_never_panics(
        version in prop_oneof![Just(1u8), any::<u8>()],
        rest in prop::collection::vec(any::<u8>(), 0..256),
    ) {
        let mut body = vec![version];
        body.extend_from_slice(&rest);
        let bytes = with_crc(body);
        if let Ok(meta) = Metadata::decode(&bytes) {
            prop_assert_eq!(meta.encode(), bytes);
        }
    }

    /// A valid encoding, edited (bytes overwritten, cut short, lengths made huge) and
    /// checksummed again: errors, never a panic, and never a huge allocation.
    #[test]
    fn decode_edited_encodings_never_panics(
        meta in metadata(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
        huge in prop::option::of(any::<prop::sample::Index>()),
        cut in prop::option::of(any::<prop::sample::Index>()),
    ) {
        let mut body = meta.encode();
        body.truncate(body.len() - 4);
        let unedited = edits.is_empty() && huge.is_none() && cut.is_none();
        for (at, b) in edits {
            let i = at.index(body.len());
            body[i] = b;
        }
        if let Some(at) = huge {
            let i = at.index(body.len() - 3);
            body[i..i + 4].copy_from_slice(&u32::MAX.to_be_bytes());
        }
        if let Some(at) = cut {
            body.truncate(at.index(body.len() + 1));
        }
        let bytes = with_crc(body);
        match Metadata::decode(&bytes) {
            Ok(decoded) => prop_assert_eq!(decoded.encode(), bytes),
            // Without edits the encoding is valid: the branch above is taken in those cases.
            Err(e) => prop_assert!(!unedited, "an unedited encoding was refused: {:?}", e),
        }
    }

    #[test]
    fn encode_decode_round_trip(meta in metadata()) {
        let bytes = meta.encode();
        prop_assert_eq!(bytes.len(), meta.encoded_len());
        prop_assert_eq!(Metadata::decode(&bytes), Ok(meta.clone()));
        let mut appended = b"prefix".to_vec();
        meta.encode_into(&mut appended);
        prop_assert_eq!(&appended[6..], &bytes[..]);
    }

    /// Every single-bit error, in every position, is found (CRC-32 finds them all).
    #[test]
    fn one_flipped_bit_is_detected(meta in metadata()) {
        let bytes = meta.encode();
        let mut copy = bytes.clone();
        for bit in 0..bytes.len() * 8 {
            copy[bit / 8] ^= 1 << (bit % 8);
            prop_assert!(Metadata::decode(&copy).is_err(), "bit {} flipped went unnoticed", bit);
            copy[bit / 8] ^= 1 << (bit % 8);
        }
        // Truncations too.
        for len in 0..bytes.len() {
            prop_assert!(Metadata::decode(&bytes[..len]).is_err(), "cut to {} bytes", len);
        }
    }

    #[test]
    fn parse_ascii_arbitrary_bytes_never_panics(
        bytes in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..40),
            prop::collection::vec(any::<u8>(), 32..=32),
            prop::collection::vec(prop::sample::select(b"0123456789abcdefABCDEFgG/ \xff".to_vec()), 32..=32),
            prop::collection::vec(prop::sample::select(b"0123456789abcdefABCDEF".to_vec()), 32..=32),
        ],
    ) {
        match SpoolId::parse_ascii(&bytes) {
            // It parsed: 32 hex digits, and Display gives them back in lowercase.
            Ok(id) => prop_assert_eq!(id.to_string().into_bytes(), bytes.to_ascii_lowercase()),
            // Refused: it was not 32 hex digits (both branches assert something).
            Err(_) => prop_assert!(
                bytes.len() != 32 || !bytes.iter().all(u8::is_ascii_hexdigit),
                "32 hex digits refused: {:?}",
                bytes
            ),
        }
    }

    #[test]
    fn id_display_round_trips(bytes in any::<[u8; 16]>()) {
        let id = SpoolId::from_bytes(bytes);
        let text = id.to_string();
        prop_assert_eq!(text.len(), 32);
        prop_assert!(text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        prop_assert_eq!(&id.to_hex(), &text);
        prop_assert_eq!(SpoolId::parse_ascii(text.as_bytes()), Ok(id));
        prop_assert_eq!(text.to_ascii_uppercase().parse::<SpoolId>(), Ok(id));
        prop_assert_eq!(SpoolId::from_bytes(id.as_u128().to_be_bytes()), id);
    }
}

/// The errors name what is wrong.
#[test]
fn decode_errors_are_typed() {
    let meta = Metadata {
        sender: "a@example.com".into(),
        ..Metadata::default()
    };
    let bytes = meta.encode();
    assert!(matches!(
        Metadata::decode(&bytes[..2]),
        Err(DecodeError::Truncated {
            offset: 0,
            needed: 2
        })
    ));
    let mut flipped = bytes.clone();
    flipped[3] ^= 4;
    assert!(matches!(
        Metadata::decode(&flipped),
        Err(DecodeError::Checksum { .. })
    ));
    let mut v2 = bytes[..bytes.len() - 4].to_vec();
    v2[0] = 2;
    assert_eq!(
        Metadata::decode(&with_crc(v2)),
        Err(DecodeError::Version(2))
    );
    let mut trailing = bytes[..bytes.len() - 4].to_vec();
    trailing.push(0);
    assert_eq!(
        Metadata::decode(&with_crc(trailing)),
        Err(DecodeError::Trailing(1))
    );
    // A recipient count far beyond what the bytes can hold is truncation, found before any
    // allocation.
    let mut body = bytes[..bytes.len() - 4].to_vec();
    let count_at = 1 + 4 + 8 + 4 + meta.sender.len() + 4;
    body[count_at..count_at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(matches!(
        Metadata::decode(&with_crc(body)),
        Err(DecodeError::Truncated { .. })
    ));
    let mut bad_utf8 = bytes[..bytes.len() - 4].to_vec();
    bad_utf8[1 + 4 + 8 + 4] = 0xff;
    assert!(matches!(
        Metadata::decode(&with_crc(bad_utf8)),
        Err(DecodeError::Utf8 {
            field: "sender",
            ..
        })
    ));
}
