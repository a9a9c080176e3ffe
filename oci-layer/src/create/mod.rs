//! Creating layers (being written)
