//! Storage: files and mmaps. Knows nothing of the network.
//!
//! - [`config_file`]: small JSON config files written atomically with a `.bak`.

pub mod config_file;
