//! Fixtures shared by the benchmarks: synthetic trees stored directly in a store, so a
//! 200 000-file version takes a second to build instead of writing 200 000 files.

use pods_engine::codec::tree::{Entry, Node, Tree};
use pods_engine::id::{ChunkId, TreeId};
use pods_engine::store::Store;

pub use pods_engine::ops::noise;

fn file(name: String, seed: u64) -> Entry {
    let chunk = ChunkId::of(&seed.to_le_bytes());
    Entry {
        name: name.into_bytes(),
        mode: 0o644,
        mtime_ns: 1_700_000_000,
        node: Node::File { size: 4096, chunks: vec![chunk] },
    }
}

/// A version of `dirs` × `per_dir` files; the files whose global index is in `changed`
/// get other content (as in the next version of the same folder).
pub fn synthetic_version(store: &Store, dirs: usize, per_dir: usize, changed: &dyn Fn(usize) -> bool) -> TreeId {
    let mut root = Tree::default();
    for d in 0..dirs {
        let entries = (0..per_dir)
            .map(|f| {
                let index = d * per_dir + f;
                let seed = if changed(index) { index as u64 + (1 << 40) } else { index as u64 };
                file(format!("file-{f:05}.json"), seed)
            })
            .collect();
        let id = store.put_tree(&Tree { entries }).expect("store tree");
        root.entries.push(Entry {
            name: format!("dir-{d:05}").into_bytes(),
            mode: 0o755,
            mtime_ns: 1_700_000_000,
            node: Node::Dir(id),
        });
    }
    let id = store.put_tree(&root).expect("store tree");
    store.flush().expect("flush");
    id
}
