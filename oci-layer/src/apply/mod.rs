//! Applying layers (being written)
