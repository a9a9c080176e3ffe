//! The catalogue of known escapes and hostile inputs. Every test applies its layers under
//! both resolvers (openat2 and the component walk) into `ARENA/root`, next to a sentinel
//! tree `ARENA/outside`, and asserts that nothing outside the root changed: every entry,
//! content, mode, owner, link count, mtime and ctime of the arena outside `root`.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{PermissionsExt, symlink as make_symlink};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use oci_layer::apply::{Applied, ApplyOptions, Error, LimitKind, Limits, Refusal};
use oci_layer::tar::Error as TarError;

use crate::apply::{
    Node, Spec, apply_with, dir, file, gzip, hardlink, header, opaque, pax_record, push, push_pax,
    resolvers, scratch, snapshot, symlink, tar, whiteout, zstd,
};

struct Arena {
    base: PathBuf,
    root: PathBuf,
    outside: PathBuf,
}

impl Arena {
    fn new(name: &str) -> Arena {
        let base = scratch(&format!("hostile/{name}"));
        let root = base.join("root");
        let outside = base.join("outside");
        fs::create_dir(&root).unwrap();
        fs::create_dir_all(outside.join("dir/sub")).unwrap();
        fs::write(outside.join("secret"), "secret").unwrap();
        fs::write(outside.join("dir/x"), "x").unwrap();
        fs::write(outside.join("dir/sub/y"), "y").unwrap();
        fs::set_permissions(outside.join("secret"), fs::Permissions::from_mode(0o600)).unwrap();
        fs::set_permissions(outside.join("dir"), fs::Permissions::from_mode(0o750)).unwrap();
        make_symlink("secret", outside.join("link")).unwrap();
        Arena {
            base,
            root,
            outside,
        }
    }

    /// The sentinel's absolute path, as bytes for link targets.
    fn abs(&self, rel: &str) -> String {
        if rel.is_empty() {
            self.outside.to_string_lossy().into_owned()
        } else {
            format!("{}/{rel}", self.outside.to_string_lossy())
        }
    }

    /// Everything in the arena except the root's contents.
    fn outside_state(&self) -> BTreeMap<String, Node> {
        snapshot(&self.base)
            .into_iter()
            .filter(|(p, _)| p != "root" && !p.starts_with("root/"))
            .collect()
    }

    /// Applies `layers` in order (going on after failures) and asserts nothing outside the
    /// root changed; returns each layer's result.
    fn run(&self, layers: &[Vec<u8>], options: &ApplyOptions) -> Vec<Result<Applied, Error>> {
        let before = self.outside_state();
        let results: Vec<_> = layers
            .iter()
            .map(|l| apply_with(&self.root, l, options))
            .collect();
        let after = self.outside_state();
        assert_eq!(
            before, after,
            "something outside the root changed: {results:?}"
        );
        assert!(
            fs::symlink_metadata(&self.root).unwrap().is_dir(),
            "the root is no longer a directory"
        );
        results
    }
}

/// Runs a case under both resolvers, each in a fresh arena.
fn each(name: &str, case: impl Fn(&Arena, &ApplyOptions)) {
    for (i, opts) in resolvers().iter().enumerate() {
        let arena = Arena::new(&format!("{name}-{i}"));
        case(&arena, opts);
    }
}

fn refused(r: &Result<Applied, Error>) -> &Refusal {
    match r {
        Err(Error::Refused { reason, .. }) => reason,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn ok(r: &Result<Applied, Error>) {
    if let Err(e) = r {
        panic!("expected success, got {e}");
    }
}

#[test]
fn dotdot_and_absolute_names() {
    each("dotdot", |a, opts| {
        let abs = a.abs("secret");
        let r = a.run(
            &[tar(&[
                file("../outside/secret", "pwned"),
                file("../../../../../../outside/dir/x", "pwned"),
                file("a/../../outside/new", "pwned"),
                file(&abs, "pwned"),
                file("/outside/abs", "pwned"),
                dir("../outside/dir").mode(0o777),
            ])],
            opts,
        );
        ok(&r[0]);
        // Everything landed inside the root.
        assert_eq!(fs::read(a.root.join("outside/secret")).unwrap(), b"pwned");
        assert_eq!(fs::read(a.root.join("outside/new")).unwrap(), b"pwned");
        assert_eq!(fs::read(a.root.join("outside/abs")).unwrap(), b"pwned");
        assert_eq!(
            fs::read(a.root.join(abs.trim_start_matches('/'))).unwrap(),
            b"pwned"
        );
    });
}

#[test]
fn symlink_then_file_through_it_same_layer() {
    each("symlink-same", |a, opts| {
        let r = a.run(
            &[tar(&[
                symlink("abs", a.abs("")),
                file("abs/secret", "pwned"),
                file("abs/dir/x", "pwned"),
                symlink("rel", "../outside"),
                file("rel/secret", "pwned"),
                symlink("deep/er", "../../../../outside/dir"),
                file("deep/er/x", "pwned"),
            ])],
            opts,
        );
        ok(&r[0]);
        // The files went to the link targets resolved inside the root.
        let inside = a.root.join(a.abs("secret").trim_start_matches('/'));
        assert_eq!(fs::read(inside).unwrap(), b"pwned");
        assert_eq!(fs::read(a.root.join("outside/secret")).unwrap(), b"pwned");
        assert_eq!(fs::read(a.root.join("outside/dir/x")).unwrap(), b"pwned");
    });
}

#[test]
fn symlink_then_file_through_it_later_layer() {
    each("symlink-later", |a, opts| {
        let r = a.run(
            &[
                tar(&[symlink("abs", a.abs("")), symlink("rel", "../outside/dir")]),
                tar(&[
                    file("abs/secret", "pwned"),
                    file("rel/x", "pwned"),
                    dir("rel/sub").mode(0o700),
                ]),
                tar(&[whiteout("abs", "secret"), opaque("rel")]),
            ],
            opts,
        );
        r.iter().for_each(ok);
    });
}

#[test]
fn chains_of_symlinks() {
    each("chains", |a, opts| {
        let r = a.run(
            &[
                tar(&[
                    symlink("a", "b"),
                    symlink("b", "c/d"),
                    dir("c"),
                    symlink("c/d", "../../../outside"),
                    file("a/secret", "pwned"),
                    symlink("x", a.abs("link")),
                    symlink("y", "x"),
                    file("y", "replaced, not written through"),
                ]),
                tar(&[file("a/dir/x", "pwned"), hardlink("a/h", "a/secret")]),
                // A loop is refused, not followed forever.
                tar(&[symlink("l1", "l2"), symlink("l2", "l1"), file("l1/f", "x")]),
            ],
            opts,
        );
        ok(&r[0]);
        ok(&r[1]);
        assert_eq!(refused(&r[2]), &Refusal::SymlinkLoop);
        assert_eq!(fs::read(a.root.join("outside/secret")).unwrap(), b"pwned");
        assert!(fs::symlink_metadata(a.root.join("y")).unwrap().is_file());
    });
}

#[test]
fn symlink_replacing_a_directory_mid_layer() {
    each("replace-dir", |a, opts| {
        let r = a.run(
            &[tar(&[
                dir("d"),
                file("d/1", "one"),
                symlink("d", a.abs("dir")),
                file("d/x", "pwned"),
                dir("d/sub").mode(0o777),
                symlink("e", "../outside"),
                dir("e").mode(0o777),
                file("e/secret", "pwned"),
            ])],
            opts,
        );
        ok(&r[0]);
        assert!(fs::symlink_metadata(a.root.join("d")).unwrap().is_symlink());
        assert!(fs::symlink_metadata(a.root.join("e")).unwrap().is_dir());
    });
}

#[test]
fn hardlinks_to_outside_paths() {
    each("hardlink-out", |a, opts| {
        let abs = a.abs("secret");
        let r = a.run(
            &[
                tar(&[hardlink("h1", "../outside/secret")]),
                tar(&[hardlink("h2", &abs)]),
                tar(&[hardlink("h3", "../../../../outside/link")]),
                tar(&[hardlink("h4", "/")]),
                tar(&[hardlink("h5", "..")]),
            ],
            opts,
        );
        for res in &r[..3] {
            assert!(
                matches!(refused(res), Refusal::LinkTargetMissing { .. }),
                "{res:?}"
            );
        }
        for res in &r[3..] {
            assert!(
                matches!(refused(res), Refusal::LinkTargetInvalid { .. }),
                "{res:?}"
            );
        }
    });
}

#[test]
fn hardlinks_through_symlinks() {
    each("hardlink-sym", |a, opts| {
        let r = a.run(
            &[
                tar(&[symlink("l", a.abs("")), hardlink("h", "l/secret")]),
                tar(&[symlink("rel", "../outside"), hardlink("h", "rel/secret")]),
                // A link to a symbolic link is a link to the symbolic link itself.
                tar(&[
                    symlink("s", a.abs("secret")),
                    hardlink("h2", "s"),
                    file("h2", "pwned"),
                    hardlink("h3", "s"),
                ]),
            ],
            opts,
        );
        assert!(matches!(refused(&r[0]), Refusal::LinkTargetMissing { .. }));
        assert!(matches!(refused(&r[1]), Refusal::LinkTargetMissing { .. }));
        ok(&r[2]);
        assert!(
            fs::symlink_metadata(a.root.join("h3"))
                .unwrap()
                .is_symlink()
        );
        assert_eq!(fs::read(a.root.join("h2")).unwrap(), b"pwned");
    });
}

#[test]
fn symlink_then_regular_file_of_same_name() {
    each("symlink-file", |a, opts| {
        let r = a.run(
            &[
                tar(&[
                    symlink("f", a.abs("secret")),
                    file("f", "pwned").mode(0o777),
                ]),
                tar(&[symlink("g", "../outside/secret")]),
                tar(&[file("g", "pwned").mode(0o4777).owner(1234, 1234)]),
                tar(&[symlink("p", a.abs("fifo")), Spec::new("p", b'6')]),
            ],
            opts,
        );
        r.iter().for_each(ok);
        for name in ["f", "g"] {
            let md = fs::symlink_metadata(a.root.join(name)).unwrap();
            assert!(md.is_file(), "{name}");
            assert_eq!(fs::read(a.root.join(name)).unwrap(), b"pwned");
        }
    });
}

#[test]
fn symlink_then_directory_with_another_mode() {
    each("symlink-dir", |a, opts| {
        let r = a.run(
            &[
                tar(&[
                    symlink("d", a.abs("dir")),
                    dir("d").mode(0o777).owner(4321, 4321),
                ]),
                tar(&[symlink("e", "../outside/dir")]),
                tar(&[dir("e").mode(0o700).mtime(1)]),
                // The root entry's attributes go to the root, not through a link.
                tar(&[
                    symlink("r", a.abs("")),
                    dir("r/.").mode(0o701),
                    dir("r/..").mode(0o755),
                ]),
            ],
            opts,
        );
        r.iter().for_each(ok);
        let md = fs::symlink_metadata(a.root.join("d")).unwrap();
        assert!(md.is_dir());
        assert_eq!(md.permissions().mode() & 0o7777, 0o777);
    });
}

#[test]
fn whiteouts_and_opaque_whiteouts_through_symlinks() {
    each("whiteout-sym", |a, opts| {
        let r = a.run(
            &[
                tar(&[
                    symlink("abs", a.abs("")),
                    whiteout("abs", "secret"),
                    opaque("abs/dir"),
                ]),
                tar(&[
                    symlink("rel", "../outside"),
                    whiteout("rel", "secret"),
                    opaque("rel"),
                ]),
                tar(&[
                    symlink("l", a.abs("dir")),
                    opaque("l"),
                    whiteout("l", "sub"),
                ]),
                tar(&[
                    whiteout("../outside", "secret"),
                    whiteout("../..", "outside"),
                ]),
                tar(&[whiteout("", "l"), whiteout("", "abs")]),
            ],
            opts,
        );
        r.iter().for_each(ok);
        // The last layer removed the links themselves, not their targets.
        assert!(fs::symlink_metadata(a.root.join("l")).is_err());
        assert!(fs::symlink_metadata(a.root.join("rel")).is_ok());
    });
}

#[test]
fn whiteouts_of_dot_and_dotdot() {
    each("whiteout-dots", |a, opts| {
        fs::create_dir(a.root.join("d")).unwrap();
        fs::write(a.root.join("d/keep"), "k").unwrap();
        let r = a.run(
            &[
                tar(&[file(".wh.", "")]),
                tar(&[file(".wh..", "")]),
                tar(&[file(".wh...", "")]),
                tar(&[file("d/.wh..", "")]),
                tar(&[file("d/.wh...", "")]),
                tar(&[file("../.wh..", "")]),
                tar(&[file("d/../.wh...", "")]),
            ],
            opts,
        );
        for res in &r {
            assert_eq!(refused(res), &Refusal::BadWhiteout, "{res:?}");
        }
        assert_eq!(fs::read(a.root.join("d/keep")).unwrap(), b"k");
    });
}

#[test]
fn symlink_or_file_replacing_the_root() {
    each("root-replace", |a, opts| {
        fs::write(a.root.join("keep"), "k").unwrap();
        let mut cases = Vec::new();
        for name in [".", "./", "/", "a/..", "../..", "//./"] {
            cases.push(tar(&[symlink(name, a.abs(""))]));
            cases.push(tar(&[file(name, "pwned")]));
            cases.push(tar(&[Spec::new(name, b'6')]));
            cases.push(tar(&[hardlink(name, "keep")]));
        }
        let r = a.run(&cases, opts);
        for res in &r {
            assert!(
                matches!(refused(res), Refusal::RootTypeChange { .. }),
                "{res:?}"
            );
        }
        assert_eq!(fs::read(a.root.join("keep")).unwrap(), b"k");
    });
}

/// An embedded tar header for `smuggled`, which a reader that ignores the PAX `size`
/// would apply.
fn smuggled() -> Vec<u8> {
    let mut inner = Vec::new();
    push(&mut inner, &file("smuggled", "pwned"));
    push(&mut inner, &file("../outside/secret", "pwned"));
    inner
}

#[test]
fn pax_size_overrides_header_size() {
    each("pax-size", |a, opts| {
        let inner = smuggled();
        let mut carrier = file("carrier", &inner);
        carrier.header_size = Some(0);
        carrier.pax_size = Some(inner.len() as u64);
        let r = a.run(&[tar(&[carrier, file("after", "a")])], opts);
        ok(&r[0]);
        assert_eq!(fs::read(a.root.join("carrier")).unwrap(), inner);
        assert!(!a.root.join("smuggled").exists());
        assert_eq!(fs::read(a.root.join("after")).unwrap(), b"a");
        // Links and directories carry no data whatever their size says (Go's rule):
        // what follows is read as the next header.
        let mut d = dir("d");
        d.header_size = Some(inner.len() as u64);
        let r = a.run(&[tar(&[d])], opts);
        ok(&r[0]);
    });
}

#[test]
fn oversized_pax_and_long_name_records() {
    each("pax-big", |a, opts| {
        let big = vec![b'a'; 2 << 20];
        let mut layer = Vec::new();
        push_pax(&mut layer, &pax_record("path", &big));
        push(&mut layer, &file("x", "x"));
        layer.extend_from_slice(&[0; 1024]);
        let mut long = Vec::new();
        let spec = Spec::new("././@LongLink", b'L');
        long.extend_from_slice(&header(b"././@LongLink", b'L', big.len() as u64 + 1, &spec));
        long.extend_from_slice(&big);
        long.resize(long.len().div_ceil(512) * 512 + 512, 0);
        let mut bad_len = Vec::new();
        push_pax(&mut bad_len, b"999 path=x\n");
        push(&mut bad_len, &file("y", "y"));
        bad_len.extend_from_slice(&[0; 1024]);
        let r = a.run(&[layer, long, bad_len], opts);
        for res in &r[..2] {
            assert!(
                matches!(
                    res,
                    Err(Error::Tar(TarError::Limit {
                        limit: LimitKind::Record,
                        max: 1048576,
                        ..
                    }))
                ),
                "{res:?}"
            );
        }
        assert!(
            matches!(r[2], Err(Error::Tar(TarError::Malformed { .. }))),
            "{:?}",
            r[2]
        );
        // A smaller limit is honoured too.
        let tight = ApplyOptions {
            limits: Limits {
                max_record: 64,
                ..Limits::default()
            },
            ..opts.clone()
        };
        let mut layer = Vec::new();
        push_pax(&mut layer, &pax_record("path", &[b'b'; 100]));
        push(&mut layer, &file("z", "z"));
        layer.extend_from_slice(&[0; 1024]);
        let r = a.run(&[layer], &tight);
        assert!(matches!(
            r[0],
            Err(Error::Tar(TarError::Limit {
                limit: LimitKind::Record,
                ..
            }))
        ));
    });
}

#[test]
fn truncated_streams() {
    each("truncated", |a, opts| {
        let layer = tar(&[file("a", vec![b'a'; 5000]), file("b", "b")]);
        let cases = vec![
            layer[..600].to_vec(),                           // inside a file's data
            layer[..5632 + 100].to_vec(),                    // inside a header
            layer[..layer.len() - 1024].to_vec(),            // no end-of-archive marker
            Vec::new(),                                      // nothing at all
            gzip(&layer)[..100].to_vec(),                    // truncated gzip
            zstd(&layer)[..zstd(&layer).len() - 5].to_vec(), // truncated zstd
        ];
        let r = a.run(&cases, opts);
        for (i, res) in r.iter().enumerate() {
            assert!(
                matches!(
                    res,
                    Err(Error::Tar(
                        TarError::Truncated { .. } | TarError::Decompress { .. }
                    ))
                ),
                "case {i}: {res:?}"
            );
        }
        match &r[0] {
            Err(Error::Tar(TarError::Truncated {
                expected, actual, ..
            })) => {
                assert_eq!((*expected, *actual), (5000 - 88, 0));
            }
            other => panic!("{other:?}"),
        }
    });
}

#[test]
fn corrupted_streams() {
    each("corrupt", |a, opts| {
        let layer = tar(&[file("a", "alpha"), file("b", "beta")]);
        let mut bad_sum = layer.clone();
        bad_sum[512 + 512 + 10] ^= 0x40; // second header's name
        let mut gz = gzip(&layer);
        let mid = gz.len() / 2;
        gz[mid] ^= 0xff;
        let mut zs = zstd(&layer);
        let end = zs.len() - 2;
        zs[end] ^= 0xff;
        let mut bad_number = layer.clone();
        bad_number[124] = b'9';
        let mut gz_garbage = gzip(&layer);
        gz_garbage.extend_from_slice(b"garbage!");
        let r = a.run(&[bad_sum, gz, zs, bad_number, gz_garbage], opts);
        match &r[0] {
            Err(Error::Tar(TarError::Checksum {
                offset,
                expected,
                actual,
            })) => {
                assert_eq!(*offset, 1024);
                assert_ne!(expected, actual);
            }
            other => panic!("{other:?}"),
        }
        assert!(
            matches!(r[1], Err(Error::Tar(TarError::Decompress { .. }))),
            "{:?}",
            r[1]
        );
        assert!(
            matches!(r[2], Err(Error::Tar(TarError::Decompress { .. }))),
            "{:?}",
            r[2]
        );
        assert!(matches!(
            r[3],
            Err(Error::Tar(
                TarError::Malformed { .. } | TarError::Checksum { .. }
            ))
        ));
        assert!(
            matches!(r[4], Err(Error::Tar(TarError::Decompress { .. }))),
            "{:?}",
            r[4]
        );
    });
}

#[test]
fn decompression_bombs() {
    // 4 GiB of zeros as zstd: a few hundred KiB.
    let size: u64 = 4 << 30;
    let spec = file("bomb", "");
    let mut enc = zstd::Encoder::new(Vec::new(), 1).unwrap();
    enc.write_all(&header(b"bomb", b'0', size, &spec)).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..(size >> 20) {
        enc.write_all(&zeros).unwrap();
    }
    enc.write_all(&[0; 1024]).unwrap();
    let bomb = enc.finish().unwrap();
    assert!(bomb.len() < 1 << 20, "{}", bomb.len());
    each("bomb", |a, opts| {
        let r = a.run(std::slice::from_ref(&bomb), opts);
        match &r[0] {
            Err(Error::Tar(TarError::Limit {
                limit: LimitKind::Ratio,
                max: 1000,
                actual,
                ..
            })) => assert!(*actual > 1000),
            other => panic!("{other:?}"),
        }
        // Lower limits on size and entries.
        let small = ApplyOptions {
            limits: Limits {
                max_bytes: 4096,
                ..Limits::default()
            },
            ..opts.clone()
        };
        let layer = tar(&[file("a", vec![1; 5000])]);
        let r = a.run(std::slice::from_ref(&layer), &small);
        assert!(matches!(
            r[0],
            Err(Error::Tar(TarError::Limit {
                limit: LimitKind::Bytes,
                ..
            }))
        ));
        let few = ApplyOptions {
            limits: Limits {
                max_entries: 2,
                max_depth: 3,
                ..Limits::default()
            },
            ..opts.clone()
        };
        let r = a.run(
            &[
                tar(&[file("a", ""), file("b", ""), file("c", "")]),
                tar(&[file("a/b/c/d", "")]),
            ],
            &few,
        );
        assert!(matches!(
            r[0],
            Err(Error::Tar(TarError::Limit {
                limit: LimitKind::Entries,
                ..
            }))
        ));
        assert!(matches!(
            r[1],
            Err(Error::Tar(TarError::Limit {
                limit: LimitKind::Depth,
                ..
            }))
        ));
    });
}

#[test]
fn gzip_bomb_with_a_lower_ratio() {
    let mut layer = Vec::new();
    let spec = file("zeros", "");
    layer.extend_from_slice(&header(b"zeros", b'0', 8 << 20, &spec));
    layer.resize(layer.len() + (8 << 20) + 1024, 0);
    let gz = gzip(&layer);
    each("gzip-bomb", |a, opts| {
        let strict = ApplyOptions {
            limits: Limits {
                max_ratio: 50,
                ratio_after: 1 << 20,
                ..Limits::default()
            },
            ..opts.clone()
        };
        let r = a.run(std::slice::from_ref(&gz), &strict);
        assert!(
            matches!(
                r[0],
                Err(Error::Tar(TarError::Limit {
                    limit: LimitKind::Ratio,
                    ..
                }))
            ),
            "{:?}",
            r[0]
        );
    });
}

/// A thread swaps a directory under the root for symbolic links to the outside, in a
/// loop, while a layer writes many files under it.
#[test]
fn race_swapping_directories_for_symlinks() {
    each("race", |a, opts| {
        let d = a.root.join("d");
        fs::create_dir(&d).unwrap();
        let mut entries = Vec::new();
        for i in 0..3000 {
            entries.push(file(format!("d/f{i}"), "pwned").mode(0o4777));
            if i % 10 == 0 {
                entries.push(dir(format!("d/sub{i}")).mode(0o777));
                entries.push(file(format!("d/sub{i}/g"), "pwned"));
                entries.push(whiteout("d", &format!("old{i}")));
            }
        }
        let layer = tar(&entries);
        let stop = Arc::new(AtomicBool::new(false));
        let swapper = {
            let stop = Arc::clone(&stop);
            let d = d.clone();
            let aside = a.root.join("d.aside");
            let targets = [a.abs(""), "../outside".to_owned(), a.abs("dir")];
            std::thread::spawn(move || {
                let mut swaps = 0u64;
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    if fs::rename(&d, &aside).is_ok() {
                        let _ = make_symlink(&targets[i % targets.len()], &d);
                        i += 1;
                        std::thread::yield_now();
                        let _ = fs::remove_file(&d);
                        let _ = fs::remove_dir_all(&d);
                        let _ = fs::rename(&aside, &d);
                        swaps += 1;
                    }
                }
                swaps
            })
        };
        let before = a.outside_state();
        let mut results = Vec::new();
        for _ in 0..3 {
            results.push(apply_with(&a.root, &layer, opts));
        }
        stop.store(true, Ordering::Relaxed);
        let swaps = swapper.join().unwrap();
        let after = a.outside_state();
        assert!(swaps > 0);
        assert_eq!(
            before, after,
            "outside changed during the race: {results:?}"
        );
    });
}

/// The root given as a path through a symbolic link is the link's target (the caller's
/// choice), and nothing else changes.
#[test]
fn root_given_through_a_symlink() {
    let a = Arena::new("root-link");
    let link = a.base.join("root-link");
    make_symlink("root", &link).unwrap();
    let before = a.outside_state();
    apply_with(&link, &tar(&[file("x", "y")]), &ApplyOptions::default()).unwrap();
    let mut after = a.outside_state();
    after.remove("root-link");
    let mut before = before;
    before.remove("root-link");
    assert_eq!(before, after);
    assert_eq!(fs::read(a.root.join("x")).unwrap(), b"y");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 48, ..Default::default() })]
    /// Hostile seed layers with random bytes changed, cut short or compressed: whatever
    /// the outcome, nothing outside the root changes (an in-process stand-in for the
    /// fuzz target).
    #[test]
    fn mutated_layers_stay_inside(
        flips in proptest::collection::vec((0usize..8192, proptest::num::u8::ANY), 0..6),
        cut in proptest::option::of(0usize..8192),
        compress in 0u8..3,
        walk in proptest::bool::ANY,
    ) {
        let a = Arena::new("mutated");
        let mut layer = tar(&[
            symlink("abs", a.abs("")),
            file("abs/secret", "pwned"),
            symlink("rel", "../outside/dir"),
            dir("rel/sub").mode(0o777),
            hardlink("h", "rel/x"),
            whiteout("abs", "secret"),
            opaque("rel"),
            file("../outside/secret", "pwned"),
        ]);
        for (at, byte) in &flips {
            let i = at % layer.len();
            layer[i] = *byte;
        }
        if let Some(c) = cut {
            layer.truncate(c % (layer.len() + 1));
        }
        let layer = match compress {
            0 => layer,
            1 => gzip(&layer),
            _ => zstd(&layer),
        };
        let opts = ApplyOptions {
            resolver: if walk { oci_layer::apply::Resolver::Walk } else { oci_layer::apply::Resolver::Auto },
            ..ApplyOptions::default()
        };
        a.run(&[layer], &opts);
    }
}

/// An entry hidden behind a lone zero block is an error (Go's reader agrees), not
/// silently skipped by one reader and applied by another.
#[test]
fn entries_after_a_lone_zero_block() {
    each("lone-zero", |a, opts| {
        let mut layer = Vec::new();
        push(&mut layer, &file("a", "a"));
        layer.extend_from_slice(&[0; 512]);
        push(&mut layer, &file("../outside/secret", "pwned"));
        layer.extend_from_slice(&[0; 1024]);
        let mut one_block = Vec::new();
        push(&mut one_block, &file("b", "b"));
        one_block.extend_from_slice(&[0; 512]);
        let r = a.run(&[layer, one_block], opts);
        assert!(
            matches!(
                r[0],
                Err(Error::Tar(TarError::Malformed { offset: 1536, .. }))
            ),
            "{:?}",
            r[0]
        );
        ok(&r[1]);
    });
}
