//! The wire codec: how a value becomes bytes on a pipe, and back.
//!
//! A frame is a 4-byte little-endian length followed by that many bytes of
//! [bincode 2](https://docs.rs/bincode/2.0.1) (little-endian, fixed-width integers) encoding
//! one serde value. Fixed-width integers, not bincode's default variable-length ones: on a
//! local pipe the bytes saved do not pay for the branches, and a `Pool::map` of a million
//! integers runs a third faster. This module is the only place that names bincode, so the
//! format could be swapped without touching the runtime.
//!
//! Sizes are bounded twice before anything is allocated: a frame's length is checked against
//! the receiver's limit as soon as its 4-byte header arrives, and the decoder itself runs with
//! a limit so that a length field inside the payload cannot ask for more than the frame holds.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// Bytes in a frame header.
pub const HEADER_LEN: usize = 4;

/// The largest frame any connection accepts: 1 GiB. A connection's own limit
/// ([`crate::Connection::set_max_frame`]) may be lower, never higher.
pub const MAX_FRAME_LIMIT: usize = 1 << 30;

/// The frame limit a new connection starts with: 256 MiB.
pub const DEFAULT_MAX_FRAME: usize = 256 << 20;

/// Large payloads are read into an allocation grown as the bytes actually arrive (starting
/// here and doubling), so a lying header cannot make a reader allocate up front.
const FIRST_PAYLOAD_CHUNK: usize = 1 << 20;

/// The part of `payload` where the next bytes of a `len`-byte payload go, `have` bytes of it
/// being in already: `payload` is grown first if it is full (doubling from 1 MiB, never past
/// `len`), so memory follows the bytes that arrive, not what a header announced. Bytes past
/// `have` may hold old data; the caller overwrites them.
pub(crate) fn payload_room(payload: &mut Vec<u8>, have: usize, len: usize) -> &mut [u8] {
    if payload.len() <= have {
        let grow = have.max(FIRST_PAYLOAD_CHUNK).min(len - have);
        payload.resize(have + grow, 0);
    }
    let end = payload.len().min(len);
    &mut payload[have..end]
}

/// What to do about a value bincode cannot carry, in the user's terms.
const SELF_DESCRIBING: &str = "this type needs a self-describing format, which bincode is not: \
    #[serde(untagged)], #[serde(flatten)], #[serde(tag = ...)] and types deserialized with \
    deserialize_any (serde_json::Value, for one) cannot travel; use a plain enum or struct, or \
    carry the value as a JSON string";

/// bincode's errors print as their `Debug` form; a message from our own serializers (such as
/// "a Connection can only be sent ...") reads better on its own, and the serde features
/// bincode lacks are explained rather than left to look like a wrong type.
fn encode_error(e: bincode::error::EncodeError) -> Error {
    use bincode::error::EncodeError as E;
    match e {
        E::OtherString(msg) => Error::encode(msg),
        E::Serde(bincode::serde::EncodeError::SequenceMustHaveLength) => Error::encode(format!(
            "a sequence or map without a known length ({SELF_DESCRIBING})"
        )),
        other => Error::encode(other),
    }
}

/// Whether a decoding error is bincode lacking a serde feature (not the wrong type).
fn needs_self_describing(e: &bincode::error::DecodeError) -> bool {
    use bincode::serde::DecodeError as S;
    matches!(
        e,
        bincode::error::DecodeError::Serde(
            S::AnyNotSupported | S::IdentifierNotSupported | S::IgnoredAnyNotSupported
        )
    )
}

fn decode_error(e: bincode::error::DecodeError) -> String {
    match e {
        bincode::error::DecodeError::OtherString(msg) => msg,
        e if needs_self_describing(&e) => SELF_DESCRIBING.to_string(),
        bincode::error::DecodeError::LimitExceeded => {
            "the message claims more memory than its size allows (a length field is corrupt)"
                .to_string()
        }
        other => other.to_string(),
    }
}

/// The configuration for encoding: fixed-width integers, little-endian, at most the largest
/// frame.
fn config() -> impl bincode::config::Config {
    bincode::config::standard()
        .with_fixed_int_encoding()
        .with_limit::<MAX_FRAME_LIMIT>()
}

/// Decodes `payload` with a memory budget of `LIMIT` bytes: what the decoder may claim for
/// lengths it reads, before it allocates.
fn decode_within<T: DeserializeOwned, const LIMIT: usize>(
    payload: &[u8],
) -> std::result::Result<(T, usize), bincode::error::DecodeError> {
    let config = bincode::config::standard()
        .with_fixed_int_encoding()
        .with_limit::<LIMIT>();
    bincode::serde::decode_from_slice(payload, config)
}

/// Decodes `payload` with a memory budget in proportion to its size (sixteen times, in a few
/// steps from 64 KiB to the largest frame): a length field in a short message cannot make the
/// decoder allocate gigabytes. Sixteen covers every plain value (the most a byte of bincode
/// becomes is an `Option<u64>`'s `None`, one byte for sixteen).
fn decode_bounded<T: DeserializeOwned>(
    payload: &[u8],
) -> std::result::Result<(T, usize), bincode::error::DecodeError> {
    match payload.len().saturating_mul(16) {
        0..=0x1_0000 => decode_within::<T, 0x1_0000>(payload),
        0x1_0001..=0x10_0000 => decode_within::<T, 0x10_0000>(payload),
        0x10_0001..=0x100_0000 => decode_within::<T, 0x100_0000>(payload),
        0x100_0001..=0x1000_0000 => decode_within::<T, 0x1000_0000>(payload),
        _ => decode_within::<T, MAX_FRAME_LIMIT>(payload),
    }
}

/// Appends one frame (header and payload) holding `value` to `out`, refusing payloads over
/// `max` bytes. On error `out` is left as it was.
pub fn encode_frame<T: Serialize + ?Sized>(value: &T, max: usize, out: &mut Vec<u8>) -> Result<()> {
    let start = out.len();
    out.extend_from_slice(&[0; HEADER_LEN]);
    let mut writer = Bounded {
        out,
        end: start + HEADER_LEN + max,
        over: false,
    };
    if let Err(e) = bincode::serde::encode_into_writer(value, &mut writer, config()) {
        let over = writer.over;
        out.truncate(start);
        if over {
            // Stopped at the limit, so memory never held more than a frame: now count the
            // whole size (without storing it) to say how far over it is.
            let mut size = bincode::enc::write::SizeWriter::default();
            let _ = bincode::serde::encode_into_writer(value, &mut size, config());
            return Err(Error::too_large(size.bytes_written as u64, max));
        }
        return Err(encode_error(e));
    }
    let len = out.len() - start - HEADER_LEN;
    out[start..start + HEADER_LEN].copy_from_slice(&(len as u32).to_le_bytes());
    Ok(())
}

/// Encodes `value` into `out` and returns the bytes used, or `None` when it does not fit
/// there (nothing is then promised about `out`'s bytes): for encoding straight into a
/// shared-memory ring when there is room, and through a buffer otherwise.
pub fn encode_into_slice<T: Serialize + ?Sized>(
    value: &T,
    out: &mut [u8],
) -> Result<Option<usize>> {
    match bincode::serde::encode_into_slice(value, out, config()) {
        Ok(used) => Ok(Some(used)),
        Err(bincode::error::EncodeError::UnexpectedEnd) => Ok(None),
        Err(e) => Err(encode_error(e)),
    }
}

/// Appends to a buffer up to a limit and refuses past it: a value too big for a frame is
/// refused once a frame's worth is encoded, not after all of it is.
struct Bounded<'a> {
    out: &'a mut Vec<u8>,
    /// The length `out` may reach.
    end: usize,
    /// Whether a write was refused for the limit.
    over: bool,
}

impl bincode::enc::write::Writer for Bounded<'_> {
    #[inline]
    fn write(&mut self, bytes: &[u8]) -> std::result::Result<(), bincode::error::EncodeError> {
        if self.out.len() + bytes.len() > self.end {
            self.over = true;
            return Err(bincode::error::EncodeError::Other("over the frame limit"));
        }
        self.out.extend_from_slice(bytes);
        Ok(())
    }
}

/// The payload length a frame header announces, unchecked (for skipping a frame whole).
pub fn frame_len(header: [u8; HEADER_LEN]) -> usize {
    u32::from_le_bytes(header) as usize
}

/// Reads a frame header, checking the announced length against `max` before anyone allocates.
pub fn payload_len(header: [u8; HEADER_LEN], max: usize) -> Result<usize> {
    let len = frame_len(header);
    if len > max {
        return Err(Error::too_large(len as u64, max));
    }
    Ok(len)
}

/// Decodes one value from a frame's payload. Bytes left over mean the sender and receiver
/// disagree on the type, which is reported rather than ignored.
pub fn decode_payload<T: DeserializeOwned>(payload: &[u8]) -> Result<T> {
    let (value, used) = decode_bounded(payload).map_err(|e| {
        if needs_self_describing(&e) {
            Error::decode(decode_error(e))
        } else {
            Error::decode(format!(
                "{} (is the receiver asking for the type the sender sent?)",
                decode_error(e)
            ))
        }
    })?;
    if used != payload.len() {
        return Err(Error::decode(format!(
            "{} of {} bytes left over after decoding (is the receiver asking for the type the sender sent?)",
            payload.len() - used,
            payload.len()
        )));
    }
    Ok(value)
}

/// Encodes a value alone, without a frame header (used for the arguments carried inside the
/// bootstrap frame).
pub fn encode_value<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>> {
    bincode::serde::encode_to_vec(value, config()).map_err(encode_error)
}
