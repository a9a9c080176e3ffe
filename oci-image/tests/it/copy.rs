//! Tests being written this session.
