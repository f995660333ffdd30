//! flint-cli
