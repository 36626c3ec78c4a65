//! px-core
