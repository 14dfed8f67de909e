//! `pods bench`: each stage's throughput on one folder, measured alone, then the whole
//! push, an unchanged push and a pull, with peak memory per stage.

use std::path::{Path, PathBuf};
use std::time::Instant;

use rayon::prelude::*;

use super::{pull, push, Env, PullOptions, PushOptions};
use crate::error::{Error, Result};
use crate::home::Home;
use crate::merge::{Prefer, Strategy};
use crate::progress::{Phase, Progress};
use crate::store::Store;

#[derive(Debug, Clone, serde::Serialize)]
pub struct StageResult {
    pub stage: &'static str,
    pub seconds: f64,
    pub bytes: u64,
    pub files: u64,
    /// Peak resident memory of this process during the stage, in bytes (Linux).
    pub peak_rss: Option<u64>,
}

impl StageResult {
    pub fn mb_per_s(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.seconds.max(1e-9)
    }
    pub fn files_per_s(&self) -> f64 {
        self.files as f64 / self.seconds.max(1e-9)
    }
}

#[derive(Debug, serde::Serialize)]
pub struct BenchReport {
    pub folder: PathBuf,
    pub generated: bool,
    pub bytes: u64,
    pub files: u64,
    pub stages: Vec<StageResult>,
}

/// Resets the kernel's peak-RSS counter for this process (Linux: clear_refs 5).
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse::<u64>().ok().map(|kb| kb * 1024)
}

struct Timer<'a> {
    stages: &'a mut Vec<StageResult>,
    progress: &'a dyn Progress,
}

impl Timer<'_> {
    fn run<T>(&mut self, stage: &'static str, bytes: u64, files: u64, work: impl FnOnce() -> Result<T>) -> Result<T> {
        self.progress.warn(&format!("bench: {stage}"));
        reset_peak();
        let start = Instant::now();
        let value = work()?;
        self.stages.push(StageResult {
            stage,
            seconds: start.elapsed().as_secs_f64(),
            bytes,
            files,
            peak_rss: peak_rss(),
        });
        Ok(value)
    }
}

/// Every regular file below `dir`.
fn files_below(dir: &Path, out: &mut Vec<(PathBuf, u64)>) -> Result<()> {
    for entry in std::fs::read_dir(dir).map_err(Error::io("listing", dir))? {
        let entry = entry.map_err(Error::io("listing", dir))?;
        let meta = std::fs::symlink_metadata(entry.path()).map_err(Error::io("reading", entry.path()))?;
        if meta.is_dir() {
            files_below(&entry.path(), out)?;
        } else if meta.is_file() {
            out.push((entry.path(), meta.len()));
        }
    }
    Ok(())
}

/// Runs the benchmark on `folder`, or on a generated folder of `size_mb` when `None`.
/// Everything it writes goes to a temporary directory under `scratch`, removed at the end.
pub fn bench(folder: Option<&Path>, size_mb: u64, scratch: &Path, progress: &dyn Progress) -> Result<BenchReport> {
    let work = scratch.join(format!("pods-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    crate::fsio::create_dir_all(&work)?;
    let result = run(folder, size_mb, &work, progress);
    let _ = std::fs::remove_dir_all(&work);
    result
}

fn run(folder: Option<&Path>, size_mb: u64, work: &Path, progress: &dyn Progress) -> Result<BenchReport> {
    let generated = folder.is_none();
    let folder = match folder {
        Some(f) => f.canonicalize().map_err(Error::io("opening", f))?,
        None => {
            let dir = work.join("data");
            progress.warn(&format!("bench: generating a {size_mb} MiB folder"));
            generate(&dir, size_mb << 20)?;
            dir
        }
    };
    let mut stages = Vec::new();
    let mut timer = Timer { stages: &mut stages, progress };
    let mut files = Vec::new();
    timer.run("walk", 0, 0, || files_below(&folder, &mut files))?;
    let total: u64 = files.iter().map(|f| f.1).sum();
    let count = files.len() as u64;
    timer.stages.last_mut().expect("walk ran").files = count;
    // End to end first: the stage measurements below hold data in memory, which the
    // allocator keeps, and would inflate the later peaks.
    let home = Home::open(&work.join("home"))?;
    let interrupt = crate::progress::Interrupt::default();
    let env = Env { home: &home, progress: &Silent, interrupt: &interrupt };
    let pushed =
        timer.run("push (first)", total, count, || push(&env, "bench", Some(&folder), &PushOptions::default()))?;
    let sent = pushed.bytes_sent;
    timer.run("push (unchanged)", 0, count, || push(&env, "bench", Some(&folder), &PushOptions::default()))?;
    // The git mirror alone: a second pod on the same remote sends the same packs again.
    let mirror_home = Home::open(&work.join("mirror"))?;
    let mirror_env = Env { home: &mirror_home, progress: &Silent, interrupt: &interrupt };
    push(&mirror_env, "warm", Some(&folder), &PushOptions::default())?;
    let mirror = mirror_home.remote(&mirror_home.default_remote_url())?;
    let mirror_store = mirror_home.store()?;
    let packs = mirror_store.pack_ids()?;
    let version = crate::codec::version::Version {
        number: 1,
        parents: vec![],
        root: crate::id::TreeId::of(b"bench"),
        time_ns: 0,
        author: "bench".into(),
        message: String::new(),
        stats: Default::default(),
    };
    let marker =
        crate::remote::PodMarker { format: crate::remote::REMOTE_FORMAT_VERSION, chunker: mirror_store.config.chunker };
    let request = crate::remote::PushRequest {
        branch: "mirror",
        parent: None,
        new_packs: &packs,
        versions: std::slice::from_ref(&version),
        drop_versions: &[],
        drop_packs: &[],
        rewrite: false,
        marker: &marker,
        author: ("bench", "bench@localhost"),
    };
    timer.run("git mirror", sent, packs.len() as u64, || mirror.push(&request, &mirror_store, &Silent))?;
    let out = work.join("pulled");
    crate::fsio::create_dir_all(&out)?;
    let options =
        PullOptions { version: None, strategy: Strategy::Merge, prefer: Prefer::Neither, dry_run: false, exec: None };
    timer.run("pull (empty folder)", total, count, || pull(&env, "bench", Some(&out), &options))?;
    // The stage measurements hold their data in memory: use at most SAMPLE bytes of files.
    const SAMPLE: u64 = 512 << 20;
    let mut sampled = 0;
    let sample: Vec<&(PathBuf, u64)> = files
        .iter()
        .take_while(|(_, len)| {
            sampled += len;
            sampled <= SAMPLE || sampled == *len
        })
        .collect();
    let (sample_bytes, sample_files) = (sample.iter().map(|f| f.1).sum::<u64>(), sample.len() as u64);
    let (total_s, count_s) = (sample_bytes, sample_files);
    let contents: Vec<Vec<u8>> = timer.run("read", total_s, count_s, || {
        sample.par_iter().map(|(p, _)| std::fs::read(p).map_err(Error::io("reading", p))).collect()
    })?;
    let params = crate::chunker::ChunkerParams::default();
    let chunks: Vec<(usize, usize, usize)> = timer.run("chunk", total_s, count_s, || {
        Ok(contents
            .par_iter()
            .enumerate()
            .flat_map_iter(|(i, c)| params.chunks(c).map(move |(o, l)| (i, o, l)).collect::<Vec<_>>())
            .collect())
    })?;
    let slice = |&(i, o, l): &(usize, usize, usize)| &contents[i][o..o + l];
    timer.run("hash", total_s, count_s, || Ok(chunks.par_iter().map(|c| blake3::hash(slice(c))).count()))?;
    timer.run("compress", total_s, count_s, || {
        Ok(chunks.par_iter().map(|c| crate::store::compress(slice(c), 1).0).count())
    })?;
    let store = Store::open(&work.join("pack-write"))?;
    timer.run("pack write", total_s, count_s, || {
        chunks.par_iter().try_for_each(|c| {
            let data = slice(c);
            store.put(crate::codec::pack::BlobKind::Chunk, crate::id::BlobId(*blake3::hash(data).as_bytes()), data)
        })?;
        store.flush()
    })?;

    Ok(BenchReport { folder, generated, bytes: total, files: count, stages })
}

/// Progress sink for the inner operations: the bench reports stages itself.
struct Silent;
impl Progress for Silent {
    fn begin(&self, _: Phase, _: u64) {}
}

/// Seeded pseudo-random bytes (xorshift64), the same on every machine: test and
/// benchmark data that does not compress.
pub fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        out.extend_from_slice(&seed.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A deterministic folder shaped like a local cloud emulator's state: many small JSON
/// files, a few SQLite-like databases (4 KiB pages), half-compressible blobs and logs.
pub fn generate(dir: &Path, bytes: u64) -> Result<()> {
    let mut seed = 0x5eed_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let write = |path: PathBuf, content: &[u8]| -> Result<()> {
        if let Some(parent) = path.parent() {
            crate::fsio::create_dir_all(parent)?;
        }
        std::fs::write(&path, content).map_err(Error::io("writing", &path))
    };
    let small_total = bytes / 8;
    let mut written = 0;
    let mut i = 0;
    while written < small_total {
        let len = 1024 + (next() % (16 << 10)) as usize;
        let body: String = (0..len / 24).map(|k| format!("\"key{k}\": \"value{}\",\n", next() % 1000)).collect();
        write(dir.join(format!("state/service{}/region{}/item{i}.json", i % 12, i % 5)), body.as_bytes())?;
        written += body.len() as u64;
        i += 1;
    }
    let noise = |len: usize, next: &mut dyn FnMut() -> u64| -> Vec<u8> {
        (0..len.div_ceil(8)).flat_map(|_| next().to_le_bytes()).take(len).collect()
    };
    for db in 0..3 {
        let pages = ((bytes * 3 / 8) / 3 / 4096) as usize;
        let mut content = Vec::with_capacity(pages * 4096);
        for p in 0..pages {
            let mut page = if p % 2 == 0 { noise(4096, &mut next) } else { vec![b'r'; 4096] };
            if p == 0 {
                page[..16].copy_from_slice(b"SQLite format 3\0");
                page[16..18].copy_from_slice(&4096u16.to_be_bytes());
            }
            content.extend_from_slice(&page);
        }
        write(dir.join(format!("db/db{db}.sqlite")), &content)?;
    }
    for blob in 0..20 {
        let len = (bytes * 3 / 8 / 20) as usize;
        let content: Vec<u8> = if blob % 2 == 0 {
            noise(len, &mut next)
        } else {
            b"id,name,value\n".iter().copied().cycle().take(len).collect()
        };
        write(dir.join(format!("s3/bucket/object{blob}")), &content)?;
    }
    let log: Vec<u8> =
        (0..(bytes / 8) / 64).flat_map(|n| format!("{n:>12} GET /api/items 200 OK 12ms\n").into_bytes()).collect();
    write(dir.join("logs/requests.log"), &log)
}
