//! `Connection` framing within one process: ends of stream, cut and oversized frames.

use std::io::Write;
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use multiproc::connection::wait;
use multiproc::{Connection, Waitable, pipe, pipe_oneway};

/// A receiving connection and the raw writer feeding it, to forge any bytes.
fn raw_pair() -> (Connection, std::io::PipeWriter) {
    let (reader, writer) = std::io::pipe().expect("pipe");
    (
        Connection::from_fds(Some(OwnedFd::from(reader)), None),
        writer,
    )
}

#[test]
fn clean_end_of_stream_is_closed() {
    let (mut rx, tx) = pipe_oneway().unwrap();
    drop(tx);
    let err = rx.recv::<u32>().unwrap_err();
    assert!(
        err.is_closed() && err.is_disconnected() && !err.is_truncated(),
        "{err}"
    );
}

#[test]
fn end_inside_the_header_is_truncated() {
    let (mut rx, mut w) = raw_pair();
    w.write_all(&[5, 0]).unwrap();
    drop(w);
    let err = rx.recv::<u32>().unwrap_err();
    assert!(err.is_truncated(), "{err}");
}

#[test]
fn end_inside_the_payload_is_truncated() {
    let (mut rx, mut w) = raw_pair();
    w.write_all(&[10, 0, 0, 0, 1, 2, 3]).unwrap();
    drop(w);
    let err = rx.recv::<Vec<u8>>().unwrap_err();
    assert!(err.is_truncated(), "{err}");
    assert!(err.to_string().contains("7 of 14 bytes"), "{err}");
    // The connection refuses to guess where the next frame starts.
    assert!(rx.recv::<u8>().is_err());
}

#[test]
fn large_frame_cut_short_is_truncated() {
    let (mut rx, mut w) = raw_pair();
    let len: u32 = 5 << 20;
    let writer = std::thread::spawn(move || {
        w.write_all(&len.to_le_bytes()).unwrap();
        w.write_all(&vec![0u8; 3 << 20]).unwrap();
    });
    let err = rx.recv::<Vec<u8>>().unwrap_err();
    writer.join().unwrap();
    assert!(err.is_truncated(), "{err}");
}

#[test]
fn oversized_header_is_refused_before_allocating() {
    let (mut rx, mut w) = raw_pair();
    // Announces 4 GiB - 1 and sends nothing more; refused at the header, not after waiting.
    w.write_all(&u32::MAX.to_le_bytes()).unwrap();
    let err = rx.recv::<Vec<u8>>().unwrap_err();
    assert!(err.is_too_large(), "{err}");
    assert!(err.to_string().contains("4294967295"), "{err}");
}

#[test]
fn receiver_limit_applies() {
    let (mut a, mut b) = pipe().unwrap();
    b.set_max_frame(1000);
    a.send(&vec![1u8; 2000]).unwrap();
    let err = b.recv::<Vec<u8>>().unwrap_err();
    assert!(err.is_too_large(), "{err}");
}

#[test]
fn sender_limit_applies_and_nothing_is_written() {
    let (mut a, b) = pipe().unwrap();
    a.set_max_frame(100);
    let err = a.send(&vec![1u8; 200]).unwrap_err();
    assert!(err.is_too_large(), "{err}");
    assert!(
        !b.poll(Some(Duration::ZERO)).unwrap(),
        "no bytes reached the pipe"
    );
    a.send(&vec![1u8; 50]).unwrap();
    assert!(b.poll(Some(Duration::ZERO)).unwrap());
}

#[test]
fn limit_cannot_exceed_one_gib() {
    let (mut a, _b) = pipe().unwrap();
    a.set_max_frame(usize::MAX);
    assert_eq!(a.max_frame(), multiproc::codec::MAX_FRAME_LIMIT);
}

#[test]
fn wrong_type_is_a_codec_error_and_the_stream_goes_on() {
    let (mut a, mut b) = pipe().unwrap();
    a.send("not a number, and too long to be one").unwrap();
    a.send(&42u64).unwrap();
    let err = b.recv::<u64>().unwrap_err();
    assert!(err.is_codec(), "{err}");
    assert_eq!(b.recv::<u64>().unwrap(), 42);
}

#[test]
fn duplex_both_ways() {
    let (mut a, mut b) = pipe().unwrap();
    a.send(&1i32).unwrap();
    b.send(&"two").unwrap();
    assert_eq!(b.recv::<i32>().unwrap(), 1);
    assert_eq!(a.recv::<String>().unwrap(), "two");
}

#[test]
fn one_way_ends_refuse_the_other_direction() {
    let (mut rx, mut tx) = pipe_oneway().unwrap();
    assert!(rx.send(&1u8).is_err());
    assert!(tx.recv::<u8>().is_err());
}

#[test]
fn poll_times_out_then_sees_data() {
    let (a, mut b) = pipe().unwrap();
    let start = Instant::now();
    assert!(!a.poll(Some(Duration::from_millis(50))).unwrap());
    assert!(start.elapsed() >= Duration::from_millis(45));
    b.send(&7u8).unwrap();
    assert!(a.poll(Some(Duration::from_secs(5))).unwrap());
}

#[test]
fn wait_reports_only_ready_connections() {
    let (a1, mut b1) = pipe().unwrap();
    let (a2, _b2) = pipe().unwrap();
    let objects: [&dyn Waitable; 2] = [&a1, &a2];
    assert!(
        wait(&objects, Some(Duration::from_millis(10)))
            .unwrap()
            .is_empty()
    );
    b1.send(&()).unwrap();
    assert_eq!(
        wait(&objects, Some(Duration::from_secs(5))).unwrap(),
        vec![0]
    );
}

#[test]
fn a_connection_cannot_be_sent_over_a_connection() {
    let (mut a, _b) = pipe().unwrap();
    let (c, _d) = pipe().unwrap();
    let err = a.send(&c).unwrap_err();
    assert!(err.to_string().contains("Process"), "{err}");
}

#[test]
fn many_small_frames_in_one_read() {
    let (mut a, mut b) = pipe().unwrap();
    for i in 0..5000u32 {
        a.send(&i).unwrap();
    }
    for i in 0..5000u32 {
        assert_eq!(b.recv::<u32>().unwrap(), i);
    }
}

#[test]
fn starting_a_process_without_init_is_refused() {
    // This test binary has the standard harness and never calls multiproc::init!: a child
    // would run the whole test suite again instead of its target.
    fn target(_: ()) {}
    let mut p = multiproc::Process::new(target, ());
    let err = p.start().unwrap_err();
    assert!(err.to_string().contains("multiproc::init!"), "{err}");
    assert!(p.pid().is_none());
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(500))]

    /// Any bytes on the pipe, then its end: every `recv` gives a value or a typed error, never
    /// a panic or a hang, and the stream ends in an error.
    #[test]
    fn garbage_on_a_pipe_gives_values_or_errors(
        bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048),
        small_limit in proptest::prelude::any::<bool>(),
    ) {
        let (mut rx, mut tx) = raw_pair();
        if small_limit {
            rx.set_max_frame(256);
        }
        // The pipe holds 64 KiB: all of it fits, then the writer closes.
        tx.write_all(&bytes).expect("write");
        drop(tx);
        let mut ended = false;
        for _ in 0..bytes.len() + 2 {
            match rx.recv::<(u32, String, Vec<u64>)>() {
                Ok(_) => {}
                Err(e) => {
                    proptest::prop_assert!(
                        e.is_closed() || e.is_truncated() || e.is_too_large() || e.is_codec()
                            || e.is_broken(),
                        "{e}"
                    );
                    if e.is_closed() || e.is_truncated() || e.is_too_large() || e.is_broken() {
                        ended = true;
                        break;
                    }
                }
            }
        }
        proptest::prop_assert!(ended, "the stream never ended");
    }
}

/// `send_bytes` / `recv_bytes` / `recv_bytes_into` round trips, sizes from nothing to far
/// past a pipe's buffer, mixed with typed messages on the same connection.
#[test]
fn bytes_round_trip_mixed_with_typed_messages() {
    let (mut a, mut b) = pipe().unwrap();
    let sizes = [0usize, 1, 4095, 65_536, 1 << 20, 3 << 20];
    let sender = std::thread::spawn(move || {
        for (i, &n) in sizes.iter().enumerate() {
            let bytes: Vec<u8> = (0..n).map(|k| (k * 7 + i) as u8).collect();
            a.send_bytes(&bytes).unwrap();
            a.send(&(i as u64, "typed between")).unwrap();
            a.send_bytes(&bytes).unwrap();
        }
        a
    });
    let mut into = vec![0u8; 4 << 20];
    for (i, &n) in sizes.iter().enumerate() {
        let want: Vec<u8> = (0..n).map(|k| (k * 7 + i) as u8).collect();
        assert_eq!(b.recv_bytes().unwrap(), want, "recv_bytes of {n}");
        assert_eq!(
            b.recv::<(u64, String)>().unwrap(),
            (i as u64, "typed between".into())
        );
        let got = b.recv_bytes_into(&mut into).unwrap();
        assert_eq!(&into[..got], &want[..], "recv_bytes_into of {n}");
    }
    drop(sender.join().unwrap());
    assert!(b.recv_bytes().unwrap_err().is_closed());
}

/// A message longer than the buffer: `BufferTooShort`, the message kept, the connection in
/// step (the next receive, of any kind, gets it, and the one after gets the next message).
#[test]
fn a_buffer_too_short_keeps_the_message() {
    let (mut a, mut b) = pipe().unwrap();
    let big = vec![9u8; 200_000];
    let sender = std::thread::spawn(move || {
        a.send_bytes(&big).unwrap();
        a.send_bytes(b"after").unwrap();
        a.send(&42u32).unwrap();
        a.send_bytes(&[1, 2, 3]).unwrap();
        a
    });
    let mut small = [0u8; 16];
    let err = b.recv_bytes_into(&mut small).unwrap_err();
    assert_eq!(err.kind(), multiproc::ErrorKind::BufferTooShort, "{err}");
    assert!(err.to_string().contains("200000"), "{err}");
    // Still too short: still kept.
    assert!(b.recv_bytes_into(&mut small).is_err());
    assert!(
        b.poll(Some(Duration::ZERO)).unwrap(),
        "a kept message is ready"
    );
    assert_eq!(b.recv_bytes().unwrap(), vec![9u8; 200_000]);
    assert_eq!(b.recv_bytes_into(&mut small).unwrap(), 5);
    assert_eq!(&small[..5], b"after");
    assert_eq!(b.recv::<u32>().unwrap(), 42);
    let err = b.recv_bytes_into(&mut small[..2]).unwrap_err();
    assert_eq!(err.kind(), multiproc::ErrorKind::BufferTooShort);
    // A typed receive takes the kept message too (and fails to decode three raw bytes as a
    // u64, cleanly).
    assert!(b.recv::<u64>().unwrap_err().is_codec());
    drop(sender.join().unwrap());
}

#[test]
fn send_bytes_over_the_limit_is_refused_before_writing() {
    let (mut a, mut b) = pipe().unwrap();
    a.set_max_frame(1000);
    let err = a.send_bytes(&[0u8; 1001]).unwrap_err();
    assert!(err.is_too_large(), "{err}");
    a.send_bytes(&[5u8; 1000]).unwrap();
    assert_eq!(
        b.recv_bytes().unwrap(),
        vec![5u8; 1000],
        "nothing of the refused one was sent"
    );
}

/// A connection that sends a message bigger than its pipe holds grows the pipe (once), so the
/// message goes in fewer rounds; a small one leaves it as the kernel made it.
#[test]
fn a_large_message_grows_the_pipe_it_goes_through() {
    use nix::fcntl::{FcntlArg, fcntl};
    let (mut rx, mut tx) = pipe_oneway().expect("pipe");
    let room = |tx: &Connection| {
        fcntl(tx.writer_fd().expect("writer"), FcntlArg::F_GETPIPE_SZ).expect("F_GETPIPE_SZ")
    };
    let before = room(&tx);
    tx.send_bytes(&[1u8; 100]).expect("small");
    assert_eq!(rx.recv_bytes().expect("small back").len(), 100);
    assert_eq!(room(&tx), before, "a small message leaves the pipe alone");
    let big = vec![7u8; 300 * 1024];
    let sender = std::thread::spawn(move || {
        tx.send_bytes(&big).expect("big");
        tx
    });
    assert_eq!(rx.recv_bytes().expect("big back"), vec![7u8; 300 * 1024]);
    let tx = sender.join().expect("sender");
    assert!(room(&tx) > before, "grown: {} > {before}", room(&tx));
}

/// Large and small messages, typed and raw, taken with every kind of receive in turn: the
/// header of the message after a large one is read alone, and nothing is lost or reordered.
#[test]
fn large_and_small_messages_alternate_in_step() {
    let (mut rx, mut tx) = pipe_oneway().expect("pipe");
    let sender = std::thread::spawn(move || {
        for i in 0..40u32 {
            let size = if i % 3 == 0 {
                70_000 + i as usize
            } else {
                8 + i as usize
            };
            match i % 4 {
                0 | 1 => tx.send_bytes(&vec![i as u8; size]).expect("bytes"),
                _ => tx.send(&vec![i as u8; size]).expect("typed"),
            }
        }
    });
    let mut buf = vec![0u8; 100_000];
    for i in 0..40u32 {
        let size = if i % 3 == 0 {
            70_000 + i as usize
        } else {
            8 + i as usize
        };
        let got: Vec<u8> = match i % 4 {
            0 => rx.recv_bytes().expect("recv_bytes"),
            1 => {
                let n = rx.recv_bytes_into(&mut buf).expect("recv_bytes_into");
                buf[..n].to_vec()
            }
            _ => rx.recv::<Vec<u8>>().expect("recv"),
        };
        assert_eq!(got, vec![i as u8; size], "message {i}");
    }
    sender.join().expect("sender");
}
