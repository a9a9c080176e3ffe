use std::io::Read;

use oci_digest::{Algorithm, Digester, VerifyError, VerifyingReader};
use proptest::prelude::*;

fn algorithm() -> impl Strategy<Value = Algorithm> {
    prop::sample::select(Algorithm::ALL.to_vec())
}

/// A reader that hands out its content in the given chunk sizes.
struct Chunked {
    content: Vec<u8>,
    pos: usize,
    sizes: Vec<usize>,
    turn: usize,
}

impl Read for Chunked {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let chunk = self.sizes[self.turn % self.sizes.len()].max(1);
        self.turn += 1;
        let n = chunk.min(buf.len()).min(self.content.len() - self.pos);
        buf[..n].copy_from_slice(&self.content[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

proptest! {
    #[test]
    fn digest_of_chunks_equals_digest_of_whole(
        algorithm in algorithm(),
        content in prop::collection::vec(any::<u8>(), 0..4096),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
    ) {
        let mut cuts: Vec<usize> = cuts.iter().map(|i| i.index(content.len() + 1)).collect();
        cuts.sort_unstable();
        let mut d = Digester::new(algorithm);
        let mut start = 0;
        for cut in cuts.into_iter().chain([content.len()]) {
            d.update(&content[start..cut]);
            start = cut;
        }
        prop_assert_eq!(d.finish(), Digester::digest_bytes(algorithm, &content));
    }

    #[test]
    fn verifying_reader_accepts_exactly_the_right_content(
        algorithm in algorithm(),
        content in prop::collection::vec(any::<u8>(), 0..2048),
        other in prop::collection::vec(any::<u8>(), 0..2048),
        sizes in prop::collection::vec(1usize..300, 1..5),
    ) {
        let m = Digester::digest_bytes(algorithm, &content);
        let read = |bytes: &[u8]| {
            let inner = Chunked { content: bytes.to_vec(), pos: 0, sizes: sizes.clone(), turn: 0 };
            let mut r = VerifyingReader::new(inner, &m.digest, m.size).expect("registered");
            let mut out = Vec::new();
            r.read_to_end(&mut out).map(|_| out)
        };
        prop_assert_eq!(read(&content).expect("right content verifies"), content.clone());
        if other != content {
            let e = read(&other).expect_err("other content fails");
            prop_assert!(VerifyError::from_io(&e).is_some());
        }
    }
}
