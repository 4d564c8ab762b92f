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

/// bincode's errors print as their `Debug` form; a message from our own serializers (such as
/// "a Connection can only be sent ...") reads better on its own.
fn encode_error(e: bincode::error::EncodeError) -> Error {
    match e {
        bincode::error::EncodeError::OtherString(msg) => Error::encode(msg),
        other => Error::encode(other),
    }
}

fn decode_error(e: bincode::error::DecodeError) -> String {
    match e {
        bincode::error::DecodeError::OtherString(msg) => msg,
        other => other.to_string(),
    }
}

fn config() -> impl bincode::config::Config {
    bincode::config::standard()
        .with_fixed_int_encoding()
        .with_limit::<MAX_FRAME_LIMIT>()
}

/// Appends one frame (header and payload) holding `value` to `out`, refusing payloads over
/// `max` bytes. On error `out` is left as it was.
pub fn encode_frame<T: Serialize + ?Sized>(value: &T, max: usize, out: &mut Vec<u8>) -> Result<()> {
    let start = out.len();
    out.extend_from_slice(&[0; HEADER_LEN]);
    if let Err(e) = bincode::serde::encode_into_std_write(value, out, config()) {
        out.truncate(start);
        return Err(encode_error(e));
    }
    let len = out.len() - start - HEADER_LEN;
    if len > max {
        out.truncate(start);
        return Err(Error::too_large(len as u64, max));
    }
    out[start..start + HEADER_LEN].copy_from_slice(&(len as u32).to_le_bytes());
    Ok(())
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
    let (value, used) = bincode::serde::decode_from_slice(payload, config()).map_err(|e| {
        Error::decode(format!(
            "{} (is the receiver asking for the type the sender sent?)",
            decode_error(e)
        ))
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
