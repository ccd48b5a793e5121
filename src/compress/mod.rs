//! Decompressors for the formats found in macOS
//! kernel caches: Apple's LZSS (`comp`/`lzss` prelinkedkernels), raw LZVN
//! (`comp`/`lzvn`), LZFSE streams (`bvx2`/`bvx1`/`bvxn`/`bvx-` blocks, as in
//! im4p payloads), and the Adler-32 checksum that guards the `comp` layer.
//!
//! Every decoder is bounded: the caller states (or the stream declares) the
//! decompressed size up front, the declared size is checked against a cap
//! before anything is allocated, and a stream that produces more or fewer
//! bytes than declared is an error (LZSS reports a short count instead, so the
//! caller can word the error with its own header fields).
//!
//! Layer: decoders (the bottom of the pipeline). Imports only `error` and
//! `bytes`.

mod adler32;
mod lzfse;
mod lzss;
mod lzvn;

pub use adler32::{Adler32, adler32};
pub use lzfse::{LZFSE_MAX_HEADER, lzfse_decode, lzfse_decoded_size, lzfse_decoded_size_by_headers};
pub use lzss::{LZSS_F, LZSS_MIN_MATCH, LZSS_N, LZSS_R0, lzss_decode};
pub use lzvn::{STREAM_PAGE, StreamError, lzvn_decode, lzvn_decode_stream};

/// Hard cap on any decompressed size (1 GiB); real caches are < 300 MB.
pub const MAX_DECOMPRESSED: u64 = 1 << 30;

#[cfg(test)]
mod tests;
