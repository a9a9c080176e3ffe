//! `ocimg`: the command-line tool.

fn main() {}
