//! `Tree::decode`. Never panics; an accepted tree meets `check()`, re-encodes to bytes that
//! decode to the same tree, and `get` finds each of its entries.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pods_engine::codec::tree::Tree;

fuzz_target!(|data: &[u8]| {
    let Ok(tree) = Tree::decode(data) else { return };
    tree.check().expect("a decoded tree fails check()");
    let encoded = tree.encode();
    let again = Tree::decode(&encoded).expect("a decoded tree's own encoding is refused");
    assert_eq!(again, tree, "tree changed across encode/decode");
    assert_eq!(again.encode(), encoded, "encoding is not stable");
    for entry in &tree.entries {
        assert_eq!(tree.get(&entry.name), Some(entry), "get() misses an entry of a sorted tree");
    }
});
