//! Content-defined chunking with FastCDC (2020). Boundaries depend only on the content and
//! the parameters, so an insertion shifts no chunk but its neighbours: that is what makes
//! two versions of a file share chunks. The golden test below freezes the boundaries.

use serde::{Deserialize, Serialize};

/// Chunk size bounds, recorded in the store's config so they can change per store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkerParams {
    pub min: u32,
    pub avg: u32,
    pub max: u32,
    /// SQLite databases change pages in place, never shifting data, so content-defined
    /// boundaries only blur a change over neighbouring pages. Files that start with the
    /// SQLite header are cut into fixed chunks of this many bytes (rounded to whole pages);
    /// 0 turns this off.
    #[serde(default)]
    pub sqlite_chunk: u32,
}

/// How one file is cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    ContentDefined,
    /// Fixed-size chunks from the start of the file.
    Fixed(usize),
}

impl Default for ChunkerParams {
    fn default() -> Self {
        Self { min: 16 << 10, avg: 64 << 10, max: 256 << 10, sqlite_chunk: 4 << 10 }
    }
}

impl ChunkerParams {
    /// Checks the bounds FastCDC accepts (its own checks are debug assertions only).
    pub fn validate(&self) -> Result<(), String> {
        use fastcdc::v2020::{AVERAGE_MAX, AVERAGE_MIN, MAXIMUM_MAX, MAXIMUM_MIN, MINIMUM_MAX, MINIMUM_MIN};
        let (min, avg, max) = (self.min as usize, self.avg as usize, self.max as usize);
        let ok = (MINIMUM_MIN..=MINIMUM_MAX).contains(&min)
            && (AVERAGE_MIN..=AVERAGE_MAX).contains(&avg)
            && (MAXIMUM_MIN..=MAXIMUM_MAX).contains(&max)
            && min < avg
            && avg < max
            && min % 2 == 0
            && avg % 2 == 0
            && max % 2 == 0;
        if ok {
            Ok(())
        } else {
            Err(format!("chunker sizes {min}/{avg}/{max} are outside what FastCDC supports"))
        }
    }

    /// Chooses how to cut a file from its first bytes (at least 100 when the file has them).
    pub fn cut_for(&self, head: &[u8]) -> Cut {
        if self.sqlite_chunk == 0 || head.len() < 100 || !head.starts_with(b"SQLite format 3\0") {
            return Cut::ContentDefined;
        }
        let page = match u16::from_be_bytes([head[16], head[17]]) {
            1 => 65_536,
            p if p >= 512 && p.is_power_of_two() => usize::from(p),
            _ => return Cut::ContentDefined,
        };
        Cut::Fixed(page * (self.sqlite_chunk as usize / page).max(1))
    }

    /// The (offset, length) of each chunk of `data`, in order, covering all of it.
    pub fn chunks<'a>(&self, data: &'a [u8]) -> impl Iterator<Item = (usize, usize)> + 'a {
        fastcdc::v2020::FastCDC::new(data, self.min as usize, self.avg as usize, self.max as usize)
            .map(|chunk| (chunk.offset, chunk.length))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::ops::noise as seeded_bytes;

    /// Golden test: if this fails, chunk boundaries changed and every existing store loses
    /// deduplication against new data. Never update the numbers without a format bump.
    #[test]
    fn boundaries_are_frozen() {
        let data = seeded_bytes(4 << 20, 0x5eed);
        let params = ChunkerParams::default();
        assert_eq!(params.cut_for(&data), Cut::ContentDefined);
        let chunks: Vec<(usize, usize)> = params.chunks(&data).collect();
        let lengths: Vec<usize> = chunks.iter().map(|c| c.1).collect();
        let digest = blake3::hash(&lengths.iter().flat_map(|l| (*l as u64).to_le_bytes()).collect::<Vec<u8>>());
        assert_eq!(chunks.iter().map(|c| c.1).sum::<usize>(), data.len());
        assert_eq!((chunks.len(), &digest.to_hex()[..16]), GOLDEN);
    }

    const GOLDEN: (usize, &str) = (55, "2e556cec2301271f");

    #[test]
    fn sqlite_files_are_cut_at_pages() {
        let mut head = b"SQLite format 3\0".to_vec();
        head.extend_from_slice(&4096u16.to_be_bytes());
        head.resize(100, 0);
        let params = ChunkerParams::default();
        assert_eq!(params.cut_for(&head), Cut::Fixed(4096));
        assert_eq!(ChunkerParams { sqlite_chunk: 16 << 10, ..params }.cut_for(&head), Cut::Fixed(16 << 10));
        head[16..18].copy_from_slice(&1u16.to_be_bytes());
        assert_eq!(params.cut_for(&head), Cut::Fixed(65536), "page size 1 means 65536");
        head[16..18].copy_from_slice(&1000u16.to_be_bytes());
        assert_eq!(params.cut_for(&head), Cut::ContentDefined, "not a valid page size");
        assert_eq!(ChunkerParams { sqlite_chunk: 0, ..params }.cut_for(&head), Cut::ContentDefined);
    }

    #[test]
    fn insertion_keeps_most_chunks() {
        let data = seeded_bytes(2 << 20, 7);
        let mut edited = data.clone();
        edited.splice(1_000_000..1_000_000, b"inserted".iter().copied());
        let params = ChunkerParams::default();
        let ids = |d: &[u8]| -> std::collections::HashSet<blake3::Hash> {
            params.chunks(d).map(|(o, l)| blake3::hash(&d[o..o + l])).collect()
        };
        let (a, b) = (ids(&data), ids(&edited));
        let shared = a.intersection(&b).count();
        assert!(shared + 3 >= a.len(), "only {shared} of {} chunks survived an insertion", a.len());
    }
}
