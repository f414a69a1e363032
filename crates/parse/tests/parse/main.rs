//! Integration tests of `trailhound-parse` through its public API: the public samples
//! ([`fixtures`]) and hostile or messy input ([`bad_input`]: size limits while reading,
//! decompression bombs, truncated gzip, mixed formats, invalid times, unreadable inputs).

mod bad_input;
mod fixtures;
