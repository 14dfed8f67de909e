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
}

impl Default for ChunkerParams {
    fn default() -> Self {
        Self { min: 16 << 10, avg: 64 << 10, max: 256 << 10 }
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

    /// The (offset, length) of each chunk of `data`, in order, covering all of it.
    pub fn chunks<'a>(&self, data: &'a [u8]) -> impl Iterator<Item = (usize, usize)> + 'a {
        fastcdc::v2020::FastCDC::new(data, self.min as usize, self.avg as usize, self.max as usize)
            .map(|chunk| (chunk.offset, chunk.length))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Seeded pseudo-random bytes (xorshift), the same on every machine.
    pub fn seeded_bytes(len: usize, mut seed: u64) -> Vec<u8> {
        let mut out = Vec::with_capacity(len);
        while out.len() < len {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            out.extend_from_slice(&seed.to_le_bytes());
        }
        out.truncate(len);
        out
    }

    /// Golden test: if this fails, chunk boundaries changed and every existing store loses
    /// deduplication against new data. Never update the numbers without a format bump.
    #[test]
    fn boundaries_are_frozen() {
        let data = seeded_bytes(4 << 20, 0x5eed);
        let params = ChunkerParams::default();
        let chunks: Vec<(usize, usize)> = params.chunks(&data).collect();
        let lengths: Vec<usize> = chunks.iter().map(|c| c.1).collect();
        let digest = blake3::hash(&lengths.iter().flat_map(|l| (*l as u64).to_le_bytes()).collect::<Vec<u8>>());
        assert_eq!(chunks.iter().map(|c| c.1).sum::<usize>(), data.len());
        assert_eq!((chunks.len(), &digest.to_hex()[..16]), GOLDEN);
    }

    const GOLDEN: (usize, &str) = (55, "2e556cec2301271f");

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
