//! The table, its lookups and the ways each signature allows.
use super::*;

fn square(x: u64) -> u64 {
    x * x
}
fn greet(name: String) -> Result<(), String> {
    if name.is_empty() {
        Err("no name".into())
    } else {
        Ok(())
    }
}
fn add(a: u32, b: u32) -> u32 {
    a + b
}
fn halve(x: u64) -> Result<u64, String> {
    if x.is_multiple_of(2) {
        Ok(x / 2)
    } else {
        Err(format!("{x} is odd"))
    }
}

fn wrap<T: serde::Serialize>(x: T) -> Vec<T> {
    vec![x]
}

crate::targets!(static MINE = [square, greet, add]);
crate::targets!(static WITH = [halve, ..MINE]);
crate::targets!(static GENERIC = [wrap::<u8>, wrap::<String>]);
crate::targets!(static EMPTY = []);
crate::targets!(static ONLY_INCLUDES = [..EMPTY, ..GENERIC]);

#[test]
fn a_generic_function_is_listed_per_instance_and_tables_nest() {
    assert!(EMPTY.names().is_empty());
    let names = ONLY_INCLUDES.names();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names[0].contains("wrap<u8>"), "{names:?}");
    let items: Vec<TypeId> = GENERIC.entries.iter().map(|t| (t.item)()).collect();
    assert_eq!(items, [item_of(&wrap::<u8>), item_of(&wrap::<String>)]);
    assert_ne!(items[0], item_of(&wrap::<u16>));
}

#[test]
fn each_function_runs_in_the_ways_its_signature_allows() {
    let names = WITH.names();
    assert_eq!(names.len(), 4);
    assert!(names[0].ends_with("::halve") && names[1].ends_with("::square"));
    let [halve, square, greet, add] = [0, 1, 2, 3].map(|i| {
        let mut all = Vec::new();
        WITH.flatten(&mut all);
        all[i]
    });
    let bytes = |v: &dyn erased::Encode| v.encode();
    let ways = |process, map, try_map, pair| Ways {
        process,
        map,
        try_map,
        pair,
    };
    assert_eq!((square.ways)(), ways(false, true, false, false));
    assert_eq!((greet.ways)(), ways(true, true, true, false));
    assert_eq!((add.ways)(), ways(false, false, false, true));
    assert_eq!((halve.ways)(), ways(false, true, true, false));
    assert!((square.process)(bytes(&3u64)).is_none());
    assert!((square.map)(bytes(&vec![3u64])).is_some());
    assert!((square.pair)(bytes(&vec![(1u64, 2u64)])).is_none());
    assert!(matches!(
        (greet.process)(bytes(&String::new())),
        Some(Outcome::Failed(Failure::Error(m))) if m == "no name"
    ));
    assert!(matches!(
        (greet.process)(bytes(&"bob".to_string())),
        Some(Outcome::Returned)
    ));
    assert!((add.pair)(bytes(&vec![(1u32, 2u32)])).is_some());
    assert!((add.map)(bytes(&vec![1u32])).is_none());
    assert!((halve.try_map)(bytes(&vec![4u64])).is_some());
    // A Result is a value too: `map` carries it whole.
    assert!((halve.map)(bytes(&vec![4u64])).is_some());
    assert!((halve.process)(bytes(&4u64)).is_none());
}

#[test]
fn a_function_is_known_by_its_own_type() {
    assert_eq!((MINE.entries[0].item)(), item_of(&square));
    assert_ne!((MINE.entries[0].item)(), item_of(&halve));
    // Two closures with the same code are two types.
    let (a, b) = (|x: u64| x, |x: u64| x);
    assert_ne!(item_of(&a), item_of(&b));
}

fn not_listed(x: u64) -> u64 {
    x
}

#[test]
fn a_worker_runs_only_what_the_table_lists_in_the_way_asked() {
    install(&[&WITH]);
    let bytes = |v: &dyn erased::Encode| v.encode();
    // An index past the table is refused, whatever the bytes say.
    for index in [4, 5, u32::MAX] {
        let refused = process_target(index).map(|_| ());
        assert!(
            refused
                .as_ref()
                .is_err_and(|why| why.contains(&format!("target number {index}"))
                    && why.contains("lists 4")),
            "{refused:?}"
        );
        assert!(run_chunk_at(index, Shape::Map, bytes(&vec![3u64])).is_err());
    }
    // A listed function asked to run in a way its signature does not allow is refused.
    let square = index_of::<fn(u64) -> u64>(Shape::Map).err();
    assert!(
        square.is_some(),
        "a function pointer type is not a listed function"
    );
    let at = index_of_item(item_of(&super::tests::square)).expect("square is listed");
    let refused = run_chunk_at(at, Shape::Pair, bytes(&vec![(1u64, 2u64)]));
    assert!(
        refused
            .as_ref()
            .is_err_and(|e| e.contains("square cannot be a pool task over pairs")),
        "{refused:?}"
    );
    let refused = process_target(at).map(|_| ());
    assert!(
        refused
            .as_ref()
            .is_err_and(|why| why.contains("cannot be a process target")),
        "{refused:?}"
    );
    let greet = index_of_item(item_of(&super::tests::greet)).expect("greet is listed");
    assert!(process_target(greet).is_ok());
    // Bytes of the wrong type are a codec error, not a call.
    assert!(run_chunk_at(at, Shape::Map, vec![0xff; 3]).is_err());
    let out = run_chunk_at(at, Shape::Map, bytes(&vec![3u64, 4])).expect("runs");
    assert!(!out.is_empty());
    // And in the master, what is not listed is named.
    let e = index_of_val(&not_listed, Shape::Map).expect_err("not listed");
    assert!(e.to_string().contains("tests::not_listed"), "{e}");
    let e = index_of_val(&|x: u64| x, Shape::Map).expect_err("a closure");
    assert!(e.to_string().contains("a closure"), "{e}");
    assert_ne!(fingerprint(), 0);
}

fn index_of_val<F: 'static>(_: &F, shape: Shape) -> Result<u32, Error> {
    index_of::<F>(shape)
}

fn index_of_item(item: TypeId) -> Option<u32> {
    TABLE.get()?.by_item.get(&item).copied()
}

mod erased {
    pub trait Encode {
        fn encode(&self) -> Vec<u8>;
    }
    impl<T: serde::Serialize> Encode for T {
        fn encode(&self) -> Vec<u8> {
            crate::codec::encode_value(self).expect("encodes")
        }
    }
}
