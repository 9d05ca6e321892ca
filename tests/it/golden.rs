//! Expected output kept as data: compare, or rewrite with `UPDATE_EXPECT=1`.

use std::path::Path;

/// Compares `actual` with the file at `tests/data/<rel>`; with `UPDATE_EXPECT=1` writes it.
#[track_caller]
pub fn check(rel: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(rel);
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with UPDATE_EXPECT=1 to create it, then review it)",
            path.display()
        )
    });
    if expected != actual {
        panic!(
            "{} differs (UPDATE_EXPECT=1 rewrites it; review the diff):\n--- expected\n{expected}\n--- actual\n{actual}",
            path.display()
        );
    }
}
