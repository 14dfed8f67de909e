//! Engine throughput: chunking, hashing, compression, tree codec, diff and merge.
//! Run with `cargo bench -p pods-benches`; compare runs side by side, not across machines.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use pods_benches::{noise, synthetic_version};
use pods_engine::chunker::ChunkerParams;
use pods_engine::codec::tree::Tree;
use pods_engine::merge::{merge, Prefer, Strategy};
use pods_engine::store::Store;

fn data_path(c: &mut Criterion) {
    let data = noise(16 << 20, 1);
    let mut group = c.benchmark_group("data");
    group.throughput(Throughput::Bytes(data.len() as u64));
    group.sample_size(10);
    let params = ChunkerParams::default();
    group.bench_function("fastcdc", |b| b.iter(|| params.chunks(black_box(&data)).count()));
    group.bench_function("blake3", |b| b.iter(|| blake3::hash(black_box(&data))));
    // Half compressible text, half noise: like the reference folder's blobs.
    let text: Vec<u8> =
        (0..data.len()).map(|i| if (i / 4096) % 2 == 0 { b"key=value;"[i % 10] } else { data[i] }).collect();
    group.bench_function("zstd-1", |b| b.iter(|| zstd::bulk::compress(black_box(&text), 1).expect("compress")));
    group.finish();
}

fn trees(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path()).expect("store");
    let root = synthetic_version(&store, 1, 1000, &|_| false);
    let tree = store.read_tree(&root).expect("tree");
    let subtree = match &tree.entries[0].node {
        pods_engine::codec::tree::Node::Dir(id) => store.read_tree(id).expect("subtree"),
        _ => unreachable!(),
    };
    let encoded = subtree.encode();
    let mut group = c.benchmark_group("tree-1000-entries");
    group.throughput(Throughput::Elements(1000));
    group.bench_function("encode", |b| b.iter(|| black_box(&subtree).encode()));
    group.bench_function("decode", |b| b.iter(|| Tree::decode(black_box(&encoded)).expect("decode")));
    group.finish();
}

fn diff_and_merge(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path()).expect("store");
    // 20 000 files, versions 2 % apart (every 50th file changed).
    let a = synthetic_version(&store, 200, 100, &|_| false);
    let b = synthetic_version(&store, 200, 100, &|i| i % 50 == 0);
    // 200 000 files, one changed.
    let big_a = synthetic_version(&store, 2000, 100, &|_| false);
    let big_b = synthetic_version(&store, 2000, 100, &|i| i == 123_456);
    let mut group = c.benchmark_group("diff");
    group.bench_function(BenchmarkId::new("20k-files-2pct", 400), |bench| {
        bench.iter(|| pods_engine::diff::diff(&store, a, b, &[]).expect("diff"))
    });
    group.bench_function(BenchmarkId::new("200k-files-1", 1), |bench| {
        bench.iter(|| pods_engine::diff::diff(&store, big_a, big_b, &[]).expect("diff"))
    });
    group.finish();
    let mut group = c.benchmark_group("merge");
    group.bench_function("20k-files-2pct-one-side", |bench| {
        bench.iter(|| merge(&store, Some(a), a, b, Strategy::Merge, Prefer::Neither).expect("merge"))
    });
    group.finish();
}

criterion_group!(benches, data_path, trees, diff_and_merge);
criterion_main!(benches);
