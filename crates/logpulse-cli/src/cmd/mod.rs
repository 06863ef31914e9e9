//! One module per subcommand.

pub mod bench;
pub mod formats;
pub mod gen;
pub mod run;
