//! The wire codec against hostile bytes: any payload decodes to a value or a typed error,
//! never a panic; a short payload cannot make the decoder allocate much; a value too big for
//! a frame is refused before it is all encoded; what bincode cannot carry is explained.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::BTreeMap;

use multiproc::ErrorKind;
use multiproc::codec::{decode_payload, encode_frame, encode_value};
use proptest::prelude::*;
use serde::{Deserialize, Serialize};

/// The system allocator, counting this thread's live bytes and their peak (tests run on
/// threads of their own, so each measures only itself).
struct Counting;

thread_local! {
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every call is passed to the system allocator unchanged; the counters are plain
// thread-local cells that allocate nothing.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.with(|l| {
            l.set(l.get() + layout.size());
            l.get()
        });
        PEAK.with(|p| p.set(p.get().max(live)));
        // SAFETY: the caller's contract is the system allocator's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.with(|l| l.set(l.get().saturating_sub(layout.size())));
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The most this thread held at once while running `f`, above what it held before.
fn peak_while<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(before));
    let value = f();
    (value, PEAK.with(Cell::get) - before)
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
enum Message {
    Range { start: u64, end: u64 },
    Text(String),
    Many(Vec<Option<u64>>),
    Nested(BTreeMap<String, Vec<u8>>),
    Stop,
}

#[test]
fn a_short_payload_cannot_claim_gigabytes() {
    // A Vec<u64> of 2^26 elements (512 MiB, under the largest frame), announced in 8 bytes.
    let payload = (1u64 << 26).to_le_bytes();
    let (result, peak) = peak_while(|| decode_payload::<Vec<u64>>(&payload));
    let e = result.expect_err("nothing behind the length");
    assert_eq!(e.kind(), ErrorKind::Codec, "{e}");
    // serde's own cautious preallocation is at most 1 MiB; nothing near what was claimed.
    assert!(peak <= 2 << 20, "decoding 8 bytes held {peak} bytes");
    // The same for a string and a nested vector.
    for payload in [
        [(1u64 << 29).to_le_bytes(), [0; 8]].concat(),
        [1u64.to_le_bytes(), (1u64 << 26).to_le_bytes()].concat(),
    ] {
        let (_, peak) = peak_while(|| {
            let _ = decode_payload::<String>(&payload);
            let _ = decode_payload::<Vec<Vec<u64>>>(&payload);
        });
        assert!(peak <= 2 << 20, "decoding 16 bytes held {peak} bytes");
    }
}

#[test]
fn a_value_over_the_frame_limit_is_refused_before_it_is_all_encoded() {
    let big = vec![7u8; 64 << 20];
    let mut out = Vec::new();
    let (result, peak) = peak_while(|| encode_frame(&big, 1 << 20, &mut out));
    let e = result.expect_err("over the limit");
    assert_eq!(e.kind(), ErrorKind::TooLarge, "{e}");
    // The vector's 64 MiB and its 8-byte length.
    let exact = (64u64 << 20) + 8;
    assert!(
        e.to_string().contains(&exact.to_string()),
        "the exact size: {e}"
    );
    assert!(
        peak < 4 << 20,
        "encoding held {peak} bytes for a 1 MiB limit"
    );
    assert!(out.is_empty(), "nothing left in the buffer");
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
#[serde(untagged)]
enum Untagged {
    Number(u64),
    Word(String),
}

#[test]
fn what_bincode_cannot_carry_is_explained() {
    let bytes = encode_value(&Untagged::Word("hi".into())).expect("untagged encodes");
    let e = decode_payload::<Untagged>(&bytes).expect_err("untagged cannot decode");
    let text = e.to_string();
    assert!(text.contains("self-describing"), "{text}");
    assert!(text.contains("untagged"), "{text}");
    assert!(
        !text.contains("is the receiver asking"),
        "does not blame the types: {text}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Any bytes at all: a value or a typed error, never a panic.
    #[test]
    fn any_bytes_decode_or_fail_cleanly(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = decode_payload::<Message>(&bytes);
        let _ = decode_payload::<Vec<Message>>(&bytes);
        let _ = decode_payload::<(u64, String, Option<Vec<u64>>)>(&bytes);
        let _ = decode_payload::<BTreeMap<u32, String>>(&bytes);
    }

    /// A valid message with some bytes changed or cut: still a value or an error.
    #[test]
    fn damaged_messages_decode_or_fail_cleanly(
        n in any::<u64>(),
        text in ".{0,40}",
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
        cut in any::<usize>(),
    ) {
        let message = vec![
            Message::Range { start: n, end: n / 2 },
            Message::Text(text.clone()),
            Message::Many(vec![Some(n), None]),
            Message::Nested([(text, vec![1, 2, 3])].into_iter().collect()),
            Message::Stop,
        ];
        let mut bytes = encode_value(&message).expect("encodes");
        prop_assert_eq!(decode_payload::<Vec<Message>>(&bytes).ok(), Some(message));
        for (at, byte) in flips {
            let i = at % bytes.len();
            bytes[i] ^= byte;
        }
        let _ = decode_payload::<Vec<Message>>(&bytes);
        bytes.truncate(cut % (bytes.len() + 1));
        let _ = decode_payload::<Vec<Message>>(&bytes);
    }
}
